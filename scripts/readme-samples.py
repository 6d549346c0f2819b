#!/usr/bin/env python3
"""Regenerates the README's command samples from the current binary, or checks them.

Every fenced block line that starts with `$ v6watch ` (continued by a trailing backslash) is a
command; the lines after it, up to the next `$ ` line or the end of the block, are its output.
The commands run in a scratch folder where `v6watch demo` has written `v6watch-demo/`, beside a
link to the shared corpus (`../shared/corpus/...` paths work as in the repository). Commands
that need the network, root or a clock (`live`, `bench`) are left as they are. `probe` samples
run in a network namespace of their own (root: iproute2, dnsmasq, nftables, python3), the lab the
README describes: dnsmasq on 127.0.0.1:5399 answering `svc.test` with 127.0.0.1 and ::1 and
`v4only.test` with 127.0.0.1 only, Python's HTTP server on both families serving `small` (3
bytes) and `big` (300000 bytes), nftables dropping IPv6 to port 8080. Their times differ from
run to run, so they are compared with every duration masked; without root they are skipped,
and under CI=true that is a failure.

An output line that ends in ` ...` was shortened on purpose: only its start is compared, and a
regenerated line is shortened to the same length.

Usage: scripts/readme-samples.py [--check] [--bin PATH]
  --check   exit 1 and show the differences when a sample is stale (CI runs this)
  --bin     the v6watch binary (default: target/release/v6watch, else target/debug/v6watch)
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP = ("live", "bench")
LAB_TOOLS = ("ip", "dnsmasq", "nft", "python3")


def binary(args):
    if "--bin" in args:
        return os.path.abspath(args[args.index("--bin") + 1])
    for kind in ("release", "debug"):
        b = os.path.join(ROOT, "target", kind, "v6watch")
        if os.path.exists(b):
            return b
    sys.exit("readme-samples: no v6watch binary (cargo build first, or --bin PATH)")


def samples(lines):
    """(index of the command's first line, index after its last line, command, output range)."""
    out, in_block, i = [], False, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            in_block = not in_block
            i += 1
            continue
        if in_block and line.startswith("$ v6watch "):
            start, cmd = i, line[2:]
            while cmd.endswith("\\"):
                i += 1
                cmd = cmd[:-1] + lines[i].strip()
            j = i + 1
            while j < len(lines) and not lines[j].startswith("$ ") and not lines[j].startswith("```"):
                j += 1
            out.append((start, i + 1, cmd, j))
            i = j
            continue
        i += 1
    return out


def masked(line):
    """A probe line with its durations masked and its spacing collapsed (the time column is
    right-aligned, so its width moves with the digits)."""
    line = re.sub(r"\d+(\.\d+)? ?(ms|s)\b", "T", line)
    return " ".join(line.split())


def same(want, got, probe=False):
    if probe:
        return masked(want) == masked(got)
    if want.endswith(" ..."):
        return got.startswith(want[:-4])
    return want == got


def lab_ready():
    if os.geteuid() != 0 or not all(shutil.which(t) for t in LAB_TOOLS):
        if os.environ.get("CI") == "true":
            sys.exit("readme-samples: CI=true but the probe lab needs root and " + ", ".join(LAB_TOOLS))
        return False
    return True


class ProbeLab:
    """The README's probe lab in a network namespace of its own."""

    def __init__(self, scratch):
        self.ns = f"v6w-readme-{os.getpid()}"
        self.procs = []
        sh = lambda *a: subprocess.run(a, check=True, capture_output=True)
        sh("ip", "netns", "add", self.ns)
        sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        www = os.path.join(scratch, "www")
        os.mkdir(www)
        open(os.path.join(www, "small"), "w").write("ok\n")
        open(os.path.join(www, "big"), "w").write("x" * 300000)
        run = ["ip", "netns", "exec", self.ns]
        self.procs.append(subprocess.Popen(run + [
            "dnsmasq", "-k", "--conf-file=/dev/null", "--port=5399", "--listen-address=127.0.0.1",
            "--bind-interfaces", "--no-resolv", "--no-hosts", "--pid-file=",
            "--local=/test/", "--host-record=svc.test,127.0.0.1,::1", "--host-record=v4only.test,127.0.0.1",
        ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self.procs.append(subprocess.Popen(run + [
            "python3", "-m", "http.server", "8080", "--bind", "::", "--directory", www,
        ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for rule in ("add table inet readme",
                     "add chain inet readme input { type filter hook input priority 0 ; }",
                     "add rule inet readme input ip6 daddr ::1 tcp dport 8080 drop"):
            sh(*run, "nft", rule)
        # Both servers must answer before the probe runs: the HTTP server accepts, and dnsmasq
        # replies to a query for svc.test (on a busy machine it can start after the probe would).
        wait = (
            "import socket,sys\n"
            "try:\n"
            " socket.create_connection(('127.0.0.1', 8080), 1).close()\n"
            " u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(1)\n"
            " u.sendto(bytes.fromhex('abcd01000001000000000000') + b'\\x03svc\\x04test\\x00\\x00\\x01\\x00\\x01', ('127.0.0.1', 5399))\n"
            " u.recv(512)\n"
            "except OSError:\n"
            " sys.exit(1)"
        )
        for _ in range(100):
            if subprocess.run(run + ["python3", "-c", wait]).returncode == 0:
                break
            time.sleep(0.1)
        self.prefix = run

    def close(self):
        for p in self.procs:
            p.terminate()
            p.wait()
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


def shortened(want, got):
    return got[: len(want) - 4] + " ..." if want.endswith(" ...") else got


def main():
    args = sys.argv[1:]
    check = "--check" in args
    v6watch = binary(args)
    readme = os.path.join(ROOT, "README.md")
    lines = open(readme, encoding="utf-8").read().split("\n")
    scratch = tempfile.mkdtemp(prefix="v6watch-readme-")
    lab = None
    try:
        work = os.path.join(scratch, "work")
        os.mkdir(work)
        shared = os.path.join(ROOT, "..", "shared")
        if os.path.isdir(shared):
            os.symlink(os.path.abspath(shared), os.path.join(scratch, "shared"))
        bindir = os.path.join(scratch, "bin")
        os.mkdir(bindir)
        os.symlink(v6watch, os.path.join(bindir, "v6watch"))
        env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""), NO_COLOR="1")
        subprocess.run(["v6watch", "demo"], cwd=work, env=env, check=True, capture_output=True)
        stale, new = [], list(lines)
        # From the end, so earlier indices stay valid while blocks change length.
        for start, after_cmd, cmd, end in reversed(samples(lines)):
            kind = cmd.split()[1]
            if kind in SKIP:
                continue
            prefix = []
            if kind == "probe":
                if lab is None:
                    if not lab_ready():
                        print("readme-samples: probe samples skipped (they need root and " + ", ".join(LAB_TOOLS) + ")")
                        continue
                    lab = ProbeLab(scratch)
                prefix = lab.prefix
            r = subprocess.run(prefix + ["sh", "-c", cmd], cwd=work, env=env, capture_output=True, text=True)
            # Trailing blanks are not part of a sample (the README keeps none).
            got = [g.rstrip() for g in r.stdout.rstrip("\n").split("\n")] if r.stdout.strip() else []
            want = lines[after_cmd:end]
            probe = kind == "probe"
            if len(got) != len(want) or not all(same(w, g, probe) for w, g in zip(want, got)):
                stale.append((cmd, want, got))
                fixed = [shortened(want[k], g) if k < len(want) else g for k, g in enumerate(got)]
                new[after_cmd:end] = fixed
        if check:
            for cmd, want, got in stale:
                print(f"stale sample: $ {cmd}\n  README:\n" + "\n".join("    " + w for w in want)
                      + "\n  now:\n" + "\n".join("    " + g for g in got))
            if stale:
                print(f"{len(stale)} README sample(s) are stale: run scripts/readme-samples.py to regenerate")
                return 1
            print(f"README samples: {len(samples(lines))} commands, all current")
            return 0
        open(readme, "w", encoding="utf-8").write("\n".join(new))
        print(f"README samples: {len(stale)} regenerated")
        return 0
    finally:
        if lab is not None:
            lab.close()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
