#!/usr/bin/env python3
"""Fails when the project's own #include "..." lines form a cycle between modules.

A module is a file without its extension, and a private header X_impl.h belongs to module X (so
engine.c, engine.h and engine_impl.h are one): "engine.c includes chain.h and chain.c includes
engine.h" is a cycle even though no header includes itself. Prints
each cycle found as its modules, and the include lines that close it, then exits 1.

    tests/lint/include_cycles.py [ROOT...]      (default: service clients)
"""
import collections
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def module(path):
    base = os.path.splitext(path)[0]
    return base[:-len("_impl")] if base.endswith("_impl") else base


def modules_graph(roots):
    edges = collections.defaultdict(set)
    lines = {}
    for root in roots:
        for d, _, files in os.walk(root):
            for f in files:
                if not f.endswith((".c", ".h")):
                    continue
                src = os.path.join(d, f)
                with open(src, encoding="utf-8", errors="replace") as fh:
                    for n, line in enumerate(fh, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        dst = os.path.normpath(os.path.join(d, m.group(1)))
                        if not os.path.exists(dst):
                            continue  # generated (protobuf) or a system path: not ours
                        a, b = module(src), module(dst)
                        if a != b:
                            edges[a].add(b)
                            lines.setdefault((a, b), f"{src}:{n}: {line.strip()}")
    return edges, lines


def cycles(edges):
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = 0
    for start in list(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    os.chdir(os.path.join(here, "..", ".."))
    roots = sys.argv[1:] or ["service", "clients"]
    edges, lines = modules_graph(roots)
    found = cycles(edges)
    for comp in found:
        members = set(comp)
        print("include cycle: " + " <-> ".join(comp))
        for a in comp:
            for b in sorted(edges[a] & members):
                print("  " + lines[(a, b)])
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
