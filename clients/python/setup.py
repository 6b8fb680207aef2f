"""Builds the package with its gRPC stubs, generated from proto/ first (see generate_stubs.py).

Everything else is in pyproject.toml. Build from the repository (the .proto is found at ../../proto)
or set TWIGZ_PROTO_DIR. The stubs are generated before setup() rather than in a build step because
setuptools checks that every listed package directory exists before it builds anything.
"""
import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate_stubs  # noqa: E402

generate_stubs.generate()
setup()
