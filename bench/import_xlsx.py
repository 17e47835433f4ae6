"""Import of a generated 100k-row XLSX through `crm import leads` on PostgreSQL: rows/s and peak RSS.

Run: .venv/bin/python -m bench.import_xlsx --rows 100000
Peak RSS is the child process's maximum resident set (getrusage RUSAGE_CHILDREN).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import time
from pathlib import Path

from openpyxl import Workbook

from bench.common import CRM, ROOT, prepare

PASSWORD = "bench-password-1"


def generate(path: Path, rows: int) -> None:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(["姓名", "公司名称", "手机", "邮箱", "来源", "区域", "产品线", "预算", "备注"])
    regions = ["华东", "华南", "华北", "西南"]
    for n in range(rows):
        sheet.append(
            [
                f"联系人{n}",
                f"{regions[n % 4]}建材贸易{n}有限公司",
                f"137{n:08d}",
                f"buyer{n}@example.com",
                "展会",
                regions[n % 4],
                "防水材料",
                str(10000 + n % 500000),
                "2026 建博会留资",
            ]
        )
    workbook.save(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    path = ROOT / "var" / "bench" / f"leads_{args.rows}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        generate(path, args.rows)
    _, env = prepare("crm_bench_import", admin="bench-importer", password=PASSWORD)
    started = time.perf_counter()
    completed = subprocess.run(
        [CRM, "import", "leads", str(path), "--as", "bench-importer"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    job = json.loads(completed.stdout.strip().splitlines()[-1])
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "rows": args.rows,
                "file_mb": round(path.stat().st_size / 1e6, 1),
                "seconds": round(elapsed, 1),
                "rows_per_second": round(args.rows / elapsed),
                "peak_rss_mb": round(peak_kib / 1024),
                "job": job,
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
