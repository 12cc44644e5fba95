"""vdsl: a language and toolchain for machines, instruction sets and hypervisors.

The public API; everything else lives in the phase packages (`vdsl.syntax`,
`vdsl.resolve`, `vdsl.semantics`, `vdsl.emulator`, `vdsl.analysis`, `vdsl.monitor`).
"""

__version__ = "0.1.0"

from vdsl.emulator import Emulator, MachineState, RunResult, StepRecord, load_program, run_program
from vdsl.errors import Diagnostic, InternalError, RunError, SpecError, VdslError
from vdsl.ir.dump import dump
from vdsl.ir.nodes import Hypervisor, Isa, Machine, Program, Scenario, Spec
from vdsl.monitor.results import ScenarioRun
from vdsl.monitor.run import run_scenario
from vdsl.phases import Compilation, compile_files, compile_text

__all__ = [
    "Compilation",
    "Diagnostic",
    "Emulator",
    "Hypervisor",
    "InternalError",
    "Isa",
    "Machine",
    "MachineState",
    "Program",
    "RunError",
    "RunResult",
    "Scenario",
    "ScenarioRun",
    "Spec",
    "SpecError",
    "StepRecord",
    "VdslError",
    "__version__",
    "compile_files",
    "compile_text",
    "dump",
    "load_program",
    "run_program",
    "run_scenario",
]
