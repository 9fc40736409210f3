"""python -m convflow.runtime.cli"""
import sys

from . import main

sys.exit(main())
