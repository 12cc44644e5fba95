"""vdsl: a language and toolchain for machines, instruction sets and hypervisors.

The public API; everything else lives in the phase packages (`vdsl.syntax`,
`vdsl.resolve`, `vdsl.semantics`, `vdsl.emulator`, `vdsl.analysis`, `vdsl.monitor`).
"""

__version__ = "0.1.0"

# Each public name and the module it comes from, imported on first use (PEP 562), so that
# `import vdsl` (and `vdsl --version`) loads neither the parser nor the analysis nor z3.
_EXPORTS = {
    "Emulator": "vdsl.emulator", "MachineState": "vdsl.emulator", "RunResult": "vdsl.emulator",
    "StepRecord": "vdsl.emulator", "load_program": "vdsl.emulator", "run_program": "vdsl.emulator",
    "Diagnostic": "vdsl.errors", "InternalError": "vdsl.errors", "RunError": "vdsl.errors",
    "SpecError": "vdsl.errors", "VdslError": "vdsl.errors",
    "dump": "vdsl.ir.dump",
    "format_text": "vdsl.syntax.fmt",
    "Hypervisor": "vdsl.ir.nodes", "Isa": "vdsl.ir.nodes", "Machine": "vdsl.ir.nodes",
    "Program": "vdsl.ir.nodes", "Scenario": "vdsl.ir.nodes", "Spec": "vdsl.ir.nodes",
    "ScenarioRun": "vdsl.monitor.results", "run_scenario": "vdsl.monitor.run",
    "Compilation": "vdsl.phases", "compile_files": "vdsl.phases", "compile_text": "vdsl.phases",
}


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vdsl' has no attribute '{name}'")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
    "format_text",
    "load_program",
    "run_program",
    "run_scenario",
]
