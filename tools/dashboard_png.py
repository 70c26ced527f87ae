"""PNGs of the dashboards' layouts (boxes and titles on their 24-column grids), for the docs.

    python -m tools.dashboard_png   # docs/img/dashboard-kubernetes.png and docs/img/dashboard-aws.png

It draws the layouts the stacks provision (components/kubernetes/dashboard.py, the CloudWatch
dashboard of components/aws/monitoring.py), not data.
"""
from __future__ import annotations

import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from components.kubernetes.dashboard import dashboard  # noqa: E402

PROGRAMS = ["gateway", "users-api", "locations-api", "payments-api"]


def aws_panels() -> tuple[str, list[dict]]:
    """The CloudWatch dashboard's widgets as Grafana-like panels (gridPos), for one drawing routine."""
    from components.aws.monitoring import MetricNames, dashboard_body
    names = MetricNames("us-east-1", "app/apigw-lb-alb/x", "targetgroup/apigw-lb-gateway/x", "apigw-prod-cluster",
                        "apigw-gateway", {s: f"apigw-{s}" for s in PROGRAMS[1:]}, {p: 2 for p in PROGRAMS})
    panels = [{"type": "timeseries", "title": w["properties"]["title"],
               "gridPos": {"x": w["x"], "y": w["y"], "w": w["width"], "h": w["height"]}, "targets": []}
              for w in dashboard_body(names)["widgets"]]
    return "apigw-aws-prod (CloudWatch)", panels


def render(mesh: str, out: pathlib.Path, target: str = "kubernetes") -> pathlib.Path:
    if target == "aws":
        title, panels = aws_panels()
        board = {"title": title, "panels": panels}
    else:
        board = dashboard("apigw", PROGRAMS, mesh, "gateway")
    bottom = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in board["panels"])
    figure, axes = plt.subplots(figsize=(12, bottom * 0.17))
    for panel in board["panels"]:
        grid = panel["gridPos"]
        row = panel["type"] == "row"
        axes.add_patch(plt.Rectangle((grid["x"], bottom - grid["y"] - grid["h"]), grid["w"] - 0.2, grid["h"] - 0.2,
                                     facecolor="#dde8f5" if row else "#f4f4f4", edgecolor="#5b7fa6"))
        title = panel["title"] if row or target == "aws" else panel["title"].split(": ", 1)[-1]
        axes.text(grid["x"] + 0.3, bottom - grid["y"] - (0.6 if row else 1.2), title,
                  fontsize=9 if row else 7, weight="bold" if row else "normal", va="center")
        if not row and panel["targets"]:
            legend = ", ".join(sorted({t["legendFormat"] for t in panel["targets"]}))
            axes.text(grid["x"] + 0.3, bottom - grid["y"] - 2.2, f"one line per {legend}", fontsize=6, color="#555")
    axes.set_xlim(0, 24)
    axes.set_ylim(0, bottom)
    axes.axis("off")
    axes.set_title(f"{board['title']}: layout" + (f" (mesh {mesh})" if target != "aws" else ""), fontsize=11)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=80, bbox_inches="tight")
    plt.close(figure)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mesh", default="none", choices=["none", "istio", "linkerd"])
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("docs/img"))
    args = parser.parse_args()
    print(f"wrote {render(args.mesh, args.out / 'dashboard-kubernetes.png')}")
    print(f"wrote {render(args.mesh, args.out / 'dashboard-aws.png', 'aws')}")


if __name__ == "__main__":
    main()
