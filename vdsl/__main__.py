"""`python -m vdsl`: the same command line as `vdsl`."""

from vdsl.cli import main

raise SystemExit(main())
