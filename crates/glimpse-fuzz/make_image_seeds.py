#!/usr/bin/env python3
"""Writes image seeds in the encodings the image target's first seeds lacked (round 27): WebP
lossless, lossy with alpha, animated and with metadata chunks; PNG interlaced, paletted with
transparency, low bit depths, 16-bit with alpha and animated (APNG); GIF interlaced with local
palettes; JPEG in every chroma subsampling, progressive with restarts, and with each EXIF
orientation; BMP at every depth Pillow writes. Each is a few hundred bytes (small pictures keep
the fuzzer fast) and starts with the target's 0 byte (an encoded file). Round 31 added
`later_seeds`: CMYK JPEG, JPEG with a colour profile, comments and extreme quantisers;
larger WebP (several macroblocks, the lossless transforms), animations mixing lossy and lossless
frames of different sizes; PNG with text, profile, EXIF and 16-bit grey, APNG blending; GIF
frames of different sizes; BMP run-length encoded, with bit fields, top-down and OS/2 headers.

    python3 -m venv /tmp/pillow && /tmp/pillow/bin/pip install pillow==13.0.0
    /tmp/pillow/bin/python make_image_seeds.py FOLDER   # then: zip -X -9 corpus/image.zip FOLDER/seed-*
"""
import io
import struct
import sys
import zlib
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo


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
    yield from later_seeds()


def noisy(mode, size):
    """A picture with detail everywhere (a fixed pseudo-random pattern): lossy encoders then use
    many prediction modes, lossless ones their transforms and colour cache."""
    w, h = size
    state = 12345
    pixels = []
    for _ in range(w * h):
        state = (state * 1103515245 + 12345) % 2**31
        pixels.append(tuple((state >> shift) % 256 for shift in (3, 11, 19, 7)))
    rgba = Image.new("RGBA", size)
    rgba.putdata(pixels)
    return rgba.convert(mode)


def later_seeds():
    big = (48, 40)
    yield "cmyk_adobe.jpg", encoded(picture("RGB", (19, 13)).convert("CMYK"), "JPEG", quality=60)
    yield "icc_comment.jpg", encoded(picture("RGB", (19, 13)), "JPEG", quality=60, icc_profile=bytes(range(256)) * 3,
                                     comment=b"glimpse seed")
    yield "progressive_grey_19x13.jpg", encoded(picture("L", (19, 13)), "JPEG", quality=60, progressive=True)
    yield "quality100.jpg", encoded(noisy("RGB", (17, 9)), "JPEG", quality=100, subsampling=0)
    yield "quality1.jpg", encoded(noisy("RGB", (17, 9)), "JPEG", quality=1)
    yield "lossy_big.webp", encoded(noisy("RGB", big), "WEBP", quality=90, method=6)
    yield "lossy_big_low.webp", encoded(picture("RGB", big), "WEBP", quality=5, method=0)
    yield "lossless_big.webp", encoded(noisy("RGBA", big), "WEBP", lossless=True, quality=100, method=6, exact=True)
    yield "lossless_big_fast.webp", encoded(picture("RGB", big), "WEBP", lossless=True, quality=0, method=0)
    frames = [picture("RGBA", (9 + 4 * i, 7 + 2 * i), frame=i) for i in range(3)]
    frames = [frame.resize(big if i == 0 else frame.size) for i, frame in enumerate(frames)]
    yield "animated_mixed.webp", encoded(picture("RGBA", big), "WEBP", save_all=True,
                                         append_images=[noisy("RGBA", big), picture("RGBA", big, frame=2)],
                                         duration=[40, 80, 120], allow_mixed=True, minimize_size=True,
                                         loop=2, background=(1, 2, 3, 4))
    png_info = PngInfo()
    png_info.add_text("Title", "glimpse")
    png_info.add_text("Comment", "a compressed one " * 4, zip=True)
    png_info.add_itxt("Description", "an international one", lang="en", tkey="Beschreibung")
    yield "text_icc_exif.png", encoded(picture("RGB"), "PNG", pnginfo=png_info, icc_profile=bytes(range(200)),
                                       exif=exif_orientation(8), dpi=(72, 72))
    yield "grey16.png", encoded(picture("L").convert("I;16"), "PNG")
    yield "palette_4bit.png", encoded(picture("P"), "PNG", bits=4)
    yield "apng_blend.png", encoded(frames[0].resize((9, 7)), "PNG", save_all=True,
                                    append_images=[f.resize((9, 7)) for f in frames[1:]], duration=40,
                                    disposal=[0, 1, 2], blend=[0, 1, 1], default_image=True)
    yield "frames_of_sizes.gif", encoded(picture("RGB"), "GIF", save_all=True,
                                         append_images=[picture("RGB", frame=1), picture("RGB")], duration=40,
                                         disposal=3, loop=0, comment=b"glimpse", optimize=True)
    yield "two_colours.gif", encoded(picture("1"), "GIF")
    yield from bmp_seeds()


def bmp_seeds():
    """BMP encodings Pillow reads but does not write, made by hand from one 9x7 picture."""
    image = picture("RGB")
    width, height = image.size
    rows = [[image.getpixel((x, y)) for x in range(width)] for y in range(height)]
    palette = sorted({pixel for row in rows for pixel in row})[:16]
    index = lambda pixel: min(range(len(palette)), key=lambda i: sum(abs(a - b) for a, b in zip(palette[i], pixel)))
    quad = b"".join(bytes([b, g, r, 0]) for r, g, b in palette) + bytes(4 * (16 - len(palette)))
    indices = [[index(p) for p in row] for row in rows]
    # RLE8 and RLE4: runs of one index, each row ended by 00 00, the picture by 00 01.
    rle8 = b"".join(b"".join(bytes([1, i]) for i in row) + b"\0\0" for row in reversed(indices)) + b"\0\1"
    rle4 = b"".join(b"".join(bytes([1, i << 4]) for i in row) + b"\0\0" for row in reversed(indices)) + b"\0\1"
    yield "rle8.bmp", bmp(width, height, 8, 1, quad, rle8, colours=16)
    yield "rle4.bmp", bmp(width, height, 4, 2, quad, rle4, colours=16)
    # 16-bit 5-6-5 with bit fields, rows padded to 4 bytes.
    pad = lambda data: data + bytes(-len(data) % 4)
    rgb565 = b"".join(pad(b"".join(struct.pack("<H", (r >> 3) << 11 | (g >> 2) << 5 | b >> 3) for r, g, b in row))
                      for row in reversed(rows))
    yield "rgb565.bmp", bmp(width, height, 16, 3, struct.pack("<III", 0xF800, 0x07E0, 0x001F), rgb565)
    # 24-bit top-down (negative height).
    top_down = b"".join(pad(b"".join(bytes([b, g, r]) for r, g, b in row)) for row in rows)
    yield "top_down.bmp", bmp(width, -height, 24, 0, b"", top_down)
    # OS/2 1.x: a 12-byte header and a palette of 3-byte entries.
    core = struct.pack("<IHHHH", 12, width, height, 1, 8)
    triples = b"".join(bytes([b, g, r]) for r, g, b in palette) + bytes(3 * (256 - len(palette)))
    pixels8 = b"".join(pad(bytes(row)) for row in reversed(indices))
    body = core + triples + pixels8
    yield "os2.bmp", b"\0BM" + struct.pack("<IHHI", 14 + len(body), 0, 0, 14 + 12 + len(triples)) + body


def bmp(width, height, depth, compression, extra, pixels, colours=0):
    """A BMP with a 40-byte BITMAPINFOHEADER, `extra` (palette or bit masks) after it."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, depth, compression, len(pixels), 2835, 2835,
                       colours, 0)
    offset = 14 + len(info) + len(extra)
    return b"\0BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + extra + pixels


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
