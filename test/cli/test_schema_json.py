#!/usr/bin/env python3
"""`orc8r schema -o json` is what editors check files against: every
document orc8r accepts must pass it, and documents orc8r refuses for a
reason a JSON Schema can express must fail it."""
import copy
import glob
import json
import os
import subprocess
import sys

import jsonschema
import yaml

orc8r, src = sys.argv[1], sys.argv[2]
schema = json.loads(subprocess.run([orc8r, "schema", "-o", "json"], check=True,
                                   capture_output=True, text=True).stdout)
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)

docs = []
for path in sorted(glob.glob(os.path.join(src, "examples/networks/**/*.yaml"), recursive=True)):
    if "/.orc8r/" in path:
        continue
    with open(path) as f:
        docs += [(path, d) for d in yaml.safe_load_all(f) if d]
kinds = {d["kind"] for _, d in docs}
assert len(kinds) == 8, "examples should cover every kind, got %s" % sorted(kinds)

failed = 0
for path, d in docs:
    errs = list(v.iter_errors(d))
    if errs:
        failed += 1
        print("FAIL valid document refused: %s %s/%s: %s" % (
            path, d["kind"], d["metadata"]["name"], errs[0].message))


def must_fail(what, d):
    global failed
    if v.is_valid(d):
        failed += 1
        print("FAIL accepted: %s" % what)


gw = next(d for _, d in docs if d["kind"] == "Gateway")
bad = copy.deepcopy(gw); bad["spec"]["hardwareID"] = bad["spec"].pop("hardwareId")
must_fail("misspelt Gateway field", bad)
bad = copy.deepcopy(gw); bad["spec"]["ran"]["pci"] = 504
must_fail("pci 504", bad)
bad = copy.deepcopy(gw); bad["metadata"]["name"] = "AGW_1"
must_fail("uppercase name", bad)
bad = copy.deepcopy(gw); del bad["metadata"]["network"]
must_fail("Gateway without network", bad)
bad = copy.deepcopy(gw); bad["kind"] = "Gatway"
must_fail("unknown kind", bad)
sub = next(d for _, d in docs if d["kind"] == "Subscriber")
bad = copy.deepcopy(sub); bad["spec"]["imsi"] = "0010"
must_fail("4-digit IMSI", bad)
bad = copy.deepcopy(sub); bad["spec"]["ki"] = "xyz"
must_fail("non-hex ki", bad)
bad = copy.deepcopy(sub); bad["spec"]["state"] = "ACTIV"
must_fail("unknown state", bad)

print("%d passed, %d failed" % (len(docs) + 8 - failed, failed))
sys.exit(1 if failed else 0)
