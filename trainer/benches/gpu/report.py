#!/usr/bin/env python3
"""Reads what trainer/benches/gpu/run.sh wrote to OUT_DIR, writes OUT_DIR/report.json and prints
the GPU check's tables (Markdown): adapter, correctness, caption and training speed beside
PyTorch, data-parallel smoke, each phase's time and mean GPU utilisation.

    python3 trainer/benches/gpu/report.py OUT_DIR
"""

import csv
import json
import sys
from datetime import datetime
from pathlib import Path

ATTENTION_TOLERANCE = 1e-3
LOSS_TOLERANCE = 1e-3  # relative


def read_json(path, default):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def read_lines(path):
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return []


def utilisation(out, phases):
    """Mean and peak GPU utilisation (%) and peak memory (MiB) sampled within each phase."""
    samples = []
    try:
        with open(out / "utilisation.csv") as f:
            for row in csv.reader(f):
                if len(row) == 3:
                    when = datetime.strptime(row[0].strip(), "%Y/%m/%d %H:%M:%S.%f").timestamp()
                    samples.append((when, float(row[1]), float(row[2])))
    except (OSError, ValueError):
        return {}
    result = {}
    for phase in phases:
        inside = [s for s in samples if phase["start"] <= s[0] <= phase["end"]]
        if inside:
            result[phase["phase"]] = {
                "mean_percent": sum(s[1] for s in inside) / len(inside),
                "peak_percent": max(s[1] for s in inside),
                "peak_memory_mib": max(s[2] for s in inside),
                "samples": len(inside),
            }
    return result


def find(rows, **wanted):
    return next((r for r in rows if all(r.get(k) == v for k, v in wanted.items())), None)


def fmt(value, digits=1):
    return "–" if value is None else f"{value:.{digits}f}"


def ratio(ours, theirs):
    return None if ours is None or not theirs else ours / theirs


def util_cell(util, phase):
    u = util.get(phase)
    return "–" if u is None else f"{u['mean_percent']:.0f}% (peak {u['peak_percent']:.0f}%)"


def correctness_table(rows, lines):
    verdicts = []
    lines += ["", "### Correctness: GPU against CPU", "",
              "| check | result | measure | tolerance |", "|---|---|---|---|"]
    for r in (r for r in rows if r.get("check") == "caption"):
        ok = r["same_words"] and r["same_finished"] and r["attention_max_diff"] < ATTENTION_TOLERANCE
        verdicts.append(ok)
        lines.append(f"| caption, {r['decoding']} ({len(r['words'])} words) | {'pass' if ok else 'FAIL'} | "
                     f"same words: {r['same_words']}; attention max diff {r['attention_max_diff']:.2e} | "
                     f"{ATTENTION_TOLERANCE:g} |")
    for r in (r for r in rows if r.get("check") == "train"):
        ok = r["max_relative_diff"] < LOSS_TOLERANCE and r["steps"] == 20
        verdicts.append(ok)
        lines.append(f"| {r['steps']} training steps | {'pass' if ok else 'FAIL'} | loss max relative diff "
                     f"{r['max_relative_diff']:.2e} (CPU {r['cpu_losses'][0]:.4f} → {r['cpu_losses'][-1]:.4f}) | "
                     f"{LOSS_TOLERANCE:g} |")
    return bool(verdicts) and all(verdicts)


def caption_table(rows, torch_rows, util, lines, report):
    lines += ["", "### Captioning: encoder + 20 greedy words, 224×224 (speed ratio: Glimpse / PyTorch)", "",
              "| encoder | batch | Glimpse ms | PyTorch ms | Glimpse images/s | PyTorch images/s | speed ratio | encoder alone: Glimpse ms | PyTorch ms |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in rows if r.get("phase") == "caption"):
        t = find(torch_rows, model=r["model"], batch=r["batch"]) or {}
        speed = ratio(t.get("median_ms"), r["median_ms"])
        report["caption"].append({**r, "pytorch_ms": t.get("median_ms"), "speed_ratio": speed})
        lines.append(f"| {r['model']} | {r['batch']} | {fmt(r['median_ms'])} | {fmt(t.get('median_ms'))} | "
                     f"{fmt(r['images_per_s'])} | {fmt(t.get('images_per_s'))} | {fmt(speed, 2)}× | "
                     f"{fmt(r.get('encoder_ms'))} | {fmt(t.get('encoder_ms'))} |")
    lines.append(f"\nGPU utilisation: Glimpse {util_cell(util, 'caption')}, PyTorch {util_cell(util, 'torch-caption')}")


def train_table(rows, torch_rows, util, lines, report):
    lines += ["", "### Training throughput, pairs/s (speed ratio: Glimpse / PyTorch)", "",
              "| encoder | mode | batch | Glimpse | PyTorch | speed ratio |", "|---|---|---|---|---|---|"]
    for r in (r for r in rows if r.get("phase") == "train"):
        t = find(torch_rows, model=r["model"], mode=r["mode"], batch=r["batch"]) or {}
        speed = ratio(r["pairs_per_s"], t.get("pairs_per_s"))
        report["train"].append({**r, "pytorch_pairs_per_s": t.get("pairs_per_s"), "speed_ratio": speed})
        lines.append(f"| {r['model']} | {r['mode']} | {r['batch']} | {fmt(r['pairs_per_s'])} | "
                     f"{fmt(t.get('pairs_per_s'))} | {fmt(speed, 2)}× |")
    lines.append(f"\nGPU utilisation: Glimpse {util_cell(util, 'train')}, PyTorch {util_cell(util, 'torch-train')}")


def kernels_table(rows, torch_rows, lines, report):
    lines += ["", "### Single operations, f32 (TFLOP/s)", "",
              "| operation | batch | Glimpse ms | PyTorch ms | Glimpse TFLOP/s | PyTorch TFLOP/s |",
              "|---|---|---|---|---|---|"]
    for r in (r for r in rows if r.get("phase") == "kernels"):
        t = find(torch_rows, op=r["op"]) or {}
        report["kernels"].append({**r, "pytorch_ms": t.get("ms"), "pytorch_tflops": t.get("tflops")})
        lines.append(f"| {r['op']} | {r.get('batch', '–')} | {fmt(r['ms'], 2)} | {fmt(t.get('ms'), 2)} | "
                     f"{fmt(r['tflops'], 2)} | {fmt(t.get('tflops'), 2)} |")


def main():
    out = Path(sys.argv[1])
    rows = read_lines(out / "glimpse.jsonl")
    phases = read_lines(out / "phases.jsonl")
    util = utilisation(out, phases)
    gpu = (out / "gpu.txt").read_text().strip() if (out / "gpu.txt").exists() else None
    adapter = next((r["adapter"] for r in rows if "adapter" in r), None)
    report = {"gpu": gpu, "adapter": adapter, "phases": phases, "utilisation": util,
              "correctness": [r for r in rows if r.get("phase") == "correctness"],
              "caption": [], "train": [], "kernels": [], "parallel": [r for r in rows if r.get("phase") == "parallel"]}
    lines = [f"GPU (nvidia-smi): {gpu or '–'}", f"wgpu adapter: {adapter or '–'}"]
    report["correct"] = correctness_table(rows, lines)
    caption_table(rows, read_json(out / "torch-caption.json", []), util, lines, report)
    train_table(rows, read_json(out / "torch-train.json", []), util, lines, report)
    kernels_table(rows, read_json(out / "torch-kernels.json", []), lines, report)
    for r in report["parallel"]:
        lines += ["", f"### Data-parallel smoke: {r['replicas']} replicas on one GPU, batch {r['batch']}", "",
                  f"loss max relative diff against one replica: {r['max_relative_diff']:.2e}; "
                  f"pairs/s one replica {r['one_replica_pairs_per_s']:.1f}, two {r['two_replica_pairs_per_s']:.1f}"]
    lines += ["", "### Phases", "", "| phase | exit | seconds | GPU utilisation |", "|---|---|---|---|"]
    for p in phases:
        lines.append(f"| {p['phase']} | {p['rc']} | {p['end'] - p['start']:.1f} | {util_cell(util, p['phase'])} |")
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
