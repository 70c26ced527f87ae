"""A PNG of the Grafana dashboard's layout (panel boxes and titles on Grafana's 24-column grid), for the docs.

    python -m tools.dashboard_png [--mesh none|istio|linkerd] [--out docs/img/dashboard-kubernetes.png]

It draws the layout the workloads provision (components/kubernetes/dashboard.py), not data.
"""
from __future__ import annotations

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from components.kubernetes.dashboard import dashboard  # noqa: E402

PROGRAMS = ["gateway", "users-api", "locations-api", "payments-api"]


def render(mesh: str, out: pathlib.Path) -> pathlib.Path:
    board = dashboard("apigw", PROGRAMS, mesh, "gateway")
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in board["panels"])
    figure, axes = plt.subplots(figsize=(12, bottom * 0.17))
    for panel in board["panels"]:
        grid = panel["gridPos"]
        row = panel["type"] == "row"
        axes.add_patch(plt.Rectangle((grid["x"], bottom - grid["y"] - grid["h"]), grid["w"] - 0.2, grid["h"] - 0.2,
                                     facecolor="#dde8f5" if row else "#f4f4f4", edgecolor="#5b7fa6"))
        title = panel["title"] if row else panel["title"].split(": ", 1)[-1]
        axes.text(grid["x"] + 0.3, bottom - grid["y"] - (0.6 if row else 1.2), title,
                  fontsize=9 if row else 7, weight="bold" if row else "normal", va="center")
        if not row:
            legend = ", ".join(sorted({t["legendFormat"] for t in panel["targets"]}))
            axes.text(grid["x"] + 0.3, bottom - grid["y"] - 2.2, f"one line per {legend}", fontsize=6, color="#555")
    axes.set_xlim(0, 24)
    axes.set_ylim(0, bottom)
    axes.axis("off")
    axes.set_title(f"{board['title']}: layout (mesh {mesh})", fontsize=11)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=80, bbox_inches="tight")
    plt.close(figure)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mesh", default="none", choices=["none", "istio", "linkerd"])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("docs/img/dashboard-kubernetes.png"))
    args = parser.parse_args()
    print(f"wrote {render(args.mesh, args.out)}")


if __name__ == "__main__":
    main()
