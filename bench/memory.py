"""Peak memory ingesting one mail with a 25 MB attachment (target: peak RSS <= 200 MB).

Each case runs in a fresh interpreter so its peak is its own; the baseline
is the same interpreter after importing mailflow and loading the runtime,
doing nothing, so the figure shows what the mail itself costs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGET_MB = 200

CHILD = r"""
import os, sys
from pathlib import Path
from mailflow import pipeline
from mailflow.config import Config, DatabaseConfig, PathsConfig
from mailflow.store.session import open_store
work = Path(sys.argv[1]); root = Path(sys.argv[2]); eml = sys.argv[3]
config = Config(database=DatabaseConfig(url=f"sqlite:///{work / 'mf.db'}"),
                paths=PathsConfig(rules=str(root / "rules"), templates=str(root / "reply_templates"),
                                  attachments=str(work / "att")))
rt = pipeline.load_runtime(config, open_store(config.database_url))
if eml == "upgrade":  # as `mailflow db upgrade` does before the service starts
    sys.exit(0)
if eml != "-":
    outcome = pipeline.process(Path(eml).read_bytes(), eml, rt)
    assert outcome.kind == "new", outcome
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across execve, so a child of a
# big parent would report the parent's peak.
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(int(hwm.split()[1]) / 1024)
"""


def big_mail(path: Path, megabytes: int) -> None:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "wang.zhe@yuanhang.example"
    msg["To"] = "support@vendor.example.com"
    msg["Subject"] = "系统日志(压缩包)"
    msg["Message-ID"] = "<bench-big@yuanhang.example>"
    msg.set_content("附件是服务器日志,请帮忙分析报错原因。\n\n王喆\n139-0000-5678\n")
    msg.add_attachment(os.urandom(megabytes * 1024 * 1024), maintype="application", subtype="zip",
                       filename="server-logs.zip")
    path.write_bytes(msg.as_bytes())


def peak(work: Path, eml: str) -> float:
    out = subprocess.run([sys.executable, "-c", CHILD, str(work), str(ROOT), eml], check=True,
                         capture_output=True, text=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        big_mail(work / "big.eml", 25)
        size_mb = (work / "big.eml").stat().st_size / 1024 / 1024
        (work / "a").mkdir()
        (work / "b").mkdir()
        for case in ("a", "b"):  # migrations run before the service starts, in their own process
            subprocess.run([sys.executable, "-c", CHILD, str(work / case), str(ROOT), "upgrade"], check=True,
                           cwd=ROOT)
        base = peak(work / "a", "-")
        ours = peak(work / "b", str(work / "big.eml"))
    print(f"memory: one mail of {size_mb:.0f} MB (25 MB attachment): peak RSS {ours:.0f} MB "
          f"(idle baseline {base:.0f} MB, the mail costs {ours - base:.0f} MB); target <= {TARGET_MB} MB")
    result = {"date": date.today().isoformat(), "mail_mb": round(size_mb, 1), "peak_rss_mb": round(ours, 1),
              "baseline_rss_mb": round(base, 1), "target_mb": TARGET_MB}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "memory.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if ours <= TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
