#!/usr/bin/env python3
"""templates/ci/*.yml parse as YAML and run, on every pull/merge request,
`orc8r validate` then `orc8r plan ... -o markdown --comment` with what the
comment needs (token, full history, permission).

usage: test_ci_templates.py TEMPLATES_CI_DIR
"""
import os
import sys

import yaml

d = sys.argv[1]
failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what)
    failures += not cond


def load(name):
    with open(os.path.join(d, name)) as f:
        doc = yaml.safe_load(f)
    check(isinstance(doc, dict), name + ": parses as a YAML mapping")
    return doc or {}


# -- GitHub Actions --
gh = load("github-actions.yml")
on = gh.get("on", gh.get(True))        # YAML 1.1 reads a bare `on` as true
check(isinstance(on, dict) and "pull_request" in on, "github: runs on pull_request")
check("pull_request_target" not in (on or {}), "github: not on pull_request_target")
check(gh.get("permissions", {}).get("pull-requests") == "write",
      "github: permissions pull-requests: write")
jobs = gh.get("jobs", {})
check(len(jobs) == 1, "github: one job")
steps = next(iter(jobs.values()), {}).get("steps", [])
runs = [s.get("run", "") for s in steps]
checkout = [s for s in steps if str(s.get("uses", "")).startswith("actions/checkout@")]
check(len(checkout) == 1 and checkout[0].get("with", {}).get("fetch-depth") == 0,
      "github: actions/checkout with fetch-depth 0")
iv = next((i for i, r in enumerate(runs) if r.strip() == "orc8r validate"), None)
ip = next((i for i, r in enumerate(runs) if r.startswith("orc8r plan ")), None)
check(iv is not None and ip is not None and iv < ip, "github: validate, then plan")
if ip is not None:
    plan = steps[ip]
    check(plan["run"] == 'orc8r plan --base "origin/$BASE_REF" --head HEAD -o markdown --comment',
          "github: plan --base origin/<base> --head HEAD -o markdown --comment")
    check(plan.get("env", {}).get("BASE_REF") == "${{ github.base_ref }}",
          "github: BASE_REF is github.base_ref")
    check(plan.get("env", {}).get("GITHUB_TOKEN") == "${{ secrets.GITHUB_TOKEN }}",
          "github: GITHUB_TOKEN given to the plan step")
check(any("cmake --build" in r for r in runs), "github: an install step builds orc8r")

# -- GitLab CI --
gl = load("gitlab-ci.yml")
jobs = {k: v for k, v in gl.items() if isinstance(v, dict) and "script" in v}
check(len(jobs) == 1, "gitlab: one job")
job = next(iter(jobs.values()), {})
check(any('$CI_PIPELINE_SOURCE == "merge_request_event"' in r.get("if", "")
          for r in job.get("rules", [])), "gitlab: runs in merge_request_event pipelines")
check(str(job.get("variables", {}).get("GIT_DEPTH")) == "0", "gitlab: GIT_DEPTH 0 (full history)")
script = job.get("script", [])
check(script[:1] == ["orc8r validate"], "gitlab: validate first")
check(len(script) == 2 and script[1] ==
      'orc8r plan --base "$CI_MERGE_REQUEST_DIFF_BASE_SHA" --head HEAD -o markdown --comment',
      "gitlab: then plan from the merge request's base to HEAD -o markdown --comment")
check(any("cmake --build" in r for r in job.get("before_script", [])),
      "gitlab: before_script builds orc8r")
with open(os.path.join(d, "gitlab-ci.yml")) as f:
    text = f.read()
check("GITLAB_TOKEN" in text and "Mask" in text, "gitlab: explains the masked GITLAB_TOKEN")

print("ci-templates: " + ("FAILED (%d)" % failures if failures else "passed"))
sys.exit(1 if failures else 0)
