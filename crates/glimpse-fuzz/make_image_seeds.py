#!/usr/bin/env python3
"""Writes image seeds in the encodings the image target's first seeds lacked (round 27): WebP
lossless, lossy with alpha, animated and with metadata chunks; PNG interlaced, paletted with
transparency, low bit depths, 16-bit with alpha and animated (APNG); GIF interlaced with local
palettes; JPEG in every chroma subsampling, progressive with restarts, and with each EXIF
orientation; BMP at every depth Pillow writes. Each is a few hundred bytes (small pictures keep
the fuzzer fast) and starts with the target's 0 byte (an encoded file).

    python3 -m venv /tmp/pillow && /tmp/pillow/bin/pip install pillow==13.0.0
    /tmp/pillow/bin/python make_image_seeds.py FOLDER   # then: zip -X -9 corpus/image.zip FOLDER/seed-*
"""
import io
import struct
import sys
import zlib
from pathlib import Path

from PIL import Image


def picture(mode, size=(9, 7), frame=0):
    """A small picture with every channel varying, so that no encoder can store it trivially."""
    w, h = size
    rgba = Image.new("RGBA", size)
    rgba.putdata([((x * 29 + frame * 50) % 256, (y * 37) % 256, (x * y * 11) % 256, (x + y) * 15 % 256)
                  for y in range(h) for x in range(w)])
    if mode == "P":
        return rgba.convert("RGB").quantize(colors=5)
    return rgba.convert(mode)


def encoded(image, format, **options):
    out = io.BytesIO()
    image.save(out, format, **options)
    return b"\0" + out.getvalue()


def exif_orientation(value):
    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def seeds():
    frames = [picture("RGBA", frame=i) for i in range(3)]
    yield "lossless.webp", encoded(picture("RGB"), "WEBP", lossless=True)
    yield "lossless_alpha.webp", encoded(picture("RGBA"), "WEBP", lossless=True, exact=True)
    yield "lossless_palette.webp", encoded(picture("P").convert("RGB"), "WEBP", lossless=True, quality=100, method=6)
    yield "lossy_alpha.webp", encoded(picture("RGBA"), "WEBP", quality=50, alpha_quality=50)
    yield "lossy_icc_exif.webp", encoded(picture("RGB"), "WEBP", quality=50, icc_profile=b"\0" * 16,
                                         exif=exif_orientation(6))
    yield "animated_lossy.webp", encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:],
                                         duration=40, quality=30)
    yield "animated_lossless.webp", encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:],
                                            duration=40, lossless=True)
    yield "interlaced.png", png_by_hand(picture("RGB"), color_type=2, depth=8, interlaced=True)
    yield "rgba16_interlaced.png", png_by_hand(picture("RGBA"), color_type=6, depth=16, interlaced=True)
    yield "rgb16.png", png_by_hand(picture("RGB"), color_type=2, depth=16, interlaced=False)
    yield "palette_trns.png", encoded(picture("P"), "PNG", transparency=2)
    yield "palette_2bit.png", encoded(picture("P"), "PNG", bits=2)
    yield "gray_1bit.png", encoded(picture("1"), "PNG")
    yield "gray_alpha.png", encoded(picture("LA"), "PNG")
    yield "animated.png", encoded(frames[0], "PNG", save_all=True, append_images=frames[1:], duration=40)
    yield "interlaced.gif", encoded(picture("P"), "GIF", interlace=True, transparency=1)
    yield "local_palettes.gif", encoded(frames[0].convert("RGB"), "GIF", save_all=True,
                                        append_images=[f.convert("RGB") for f in frames[1:]], duration=40,
                                        disposal=2, optimize=False)
    for subsampling, name in [(0, "444"), (1, "422"), (2, "420")]:
        yield f"sub{name}.jpg", encoded(picture("RGB", (19, 13)), "JPEG", quality=60, subsampling=subsampling)
    yield "progressive_420.jpg", encoded(picture("RGB", (19, 13)), "JPEG", quality=60, progressive=True,
                                         subsampling=2)
    yield "grey.jpg", encoded(picture("L", (19, 13)), "JPEG", quality=60)
    yield "optimized_restart.jpg", encoded(picture("RGB", (19, 13)), "JPEG", quality=60, optimize=True,
                                           restart_marker_blocks=1)
    for orientation in range(2, 9):
        yield f"orientation{orientation}.jpg", encoded(picture("RGB"), "JPEG", quality=40,
                                                       exif=exif_orientation(orientation))
    for mode in ["1", "L", "P", "RGB", "RGBA"]:
        yield f"bmp_{mode.lower()}.bmp", encoded(picture(mode), "BMP")


def png_by_hand(image, color_type, depth, interlaced):
    """Pillow writes no Adam7 PNG and no 16-bit colour one: these are made by hand, each row
    filtered with a different filter type (0 to 4, rows given as they are: only the filter byte
    differs, which the decoder must still undo). 16-bit samples are the 8-bit ones times 257."""
    width, height = image.size
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes if interlaced else [(0, 0, 1, 1)]:
        for y in range(y0, height, dy):
            row = [image.getpixel((x, y)) for x in range(x0, width, dx)]
            if row:
                samples = [v for pixel in row for v in pixel]
                data = bytes(samples) if depth == 8 else b"".join(struct.pack(">H", v * 257) for v in samples)
                raw += bytes([y % 5]) + data
    header = struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, int(interlaced))
    return b"\0\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def main():
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in seeds():
        (folder / f"seed-{name}").write_bytes(data)


if __name__ == "__main__":
    main()
