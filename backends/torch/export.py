"""`catdsl export FILE STATE --to DIR`: a trained state, out of the run store, for use elsewhere.

Writes two files into DIR (docs/language.md §8.5 shows the loading code):

    model.safetensors  the state's parameters and buffers, named as in the model's
                       `state_dict()` (`0.weight`, `2.bias`, …); never pickle
    model.json         the model spec (the layers, as `catdsl compile` prints them), the data
                       spec, loss, input shape, step, epoch, digest, job key and final metrics

The state is read from the store, verified by its digest, and never trained here: a state that
is not in the store is E903 with the command that computes it. STATE is what the tables of
`catdsl run` call it: `F.object` (a functor into Param), `S[i]` (a sweep member) or a job label.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from backends.run.store import DATABASE, Store
from backends.torch.plan import compile_program
from backends.torch.program import ProgramError, read_program
from backends.torch.session import store_dir
from catdsl.diagnostics import Diagnostic, DiagnosticError
from catdsl.span import Span

FORMAT = "catdsl-export/1"
WEIGHTS = "model.safetensors"
SPEC = "model.json"


def export_state(module, args) -> int:
    where = store_dir(module, args.store)
    try:
        program = read_program(module, cache_dir=where / "data" if where.is_dir() else None)
    except ProgramError as e:
        raise DiagnosticError(e.diagnostics) from None
    plan = compile_program(program)
    states = _states(program, plan)
    key = states.get(args.label)
    if key is None:
        names = ", ".join(states) or "none (the file declares no functor into Param)"
        raise _error("E903", module, f"`{args.label}` is not a state of {module.file}", f"its states: {names}")
    if not (where / DATABASE).is_file():
        raise _not_computed(module, args.label, where)
    with Store.open(where) as store:
        if not store.has(key):
            raise _not_computed(module, args.label, where)
        job = store.get(key)
        state = _state(store.tensors(key), job)
    weights = {**state.params, **state.buffers}
    spec = {"format": FORMAT, "state": args.label, "label": job.label, "key": key, "digest": job.state_digest,
            "step": state.step, "epoch": state.epoch, "model": job.spec["model"], "data": job.spec["data"],
            "loss": job.spec.get("loss", _loss_of(program, plan, key)), "input_shape": _input_shape(program, plan, key),
            "parameters": sum(int(t.numel()) for t in state.params.values()), "metrics": job.metrics,
            "source": str(Path(module.file).resolve())}
    target = Path(args.to)
    _write(module, target, weights, spec)
    print(f"exported {args.label} (step {state.step}, epoch {state.epoch}, digest {(job.state_digest or '')[:12]}) "
          f"to {target}: {WEIGHTS} ({len(weights)} tensors, {spec['parameters']:,} parameters), {SPEC}")
    return 0


def _states(program, plan) -> dict[str, str]:
    """Every exportable state by the names a user sees: F.object, S[i], then job labels."""
    states: dict[str, str] = {}
    for fname in program.functors:
        for obj, key in plan.index.get(fname, {}).items():
            states[f"{fname}.{obj}"] = key
    for sname in program.sweeps:
        for index, key in plan.index.get(sname, {}).items():
            states[f"{sname}[{index}]"] = key
    for job in plan.jobs.values():
        if job.kind in ("init", "train"):
            states.setdefault(job.label, job.key)
    return states


def _state(tensors, job):
    from backends.torch.train import TrainingState

    return TrainingState.from_tensors(tensors, int(job.metrics["step"]), int(job.metrics["epoch"]))


def _functor_of(program, plan, key: str):
    job = plan.jobs[key]
    owner = job.origin[0] if job.origin else None
    if owner in program.sweeps:
        owner = program.sweeps[owner].functor
    return program.functors.get(owner)


def _loss_of(program, plan, key: str) -> str | None:
    lf = _functor_of(program, plan, key)
    return lf.target.loss if lf else None


def _input_shape(program, plan, key: str) -> list[int] | None:
    lf = _functor_of(program, plan, key)
    return list(lf.target.input_shape) if lf and lf.target.input_shape else None


def _write(module, target: Path, weights, spec: dict) -> None:
    """DIR/model.safetensors and DIR/model.json, each written whole then renamed into place."""
    from safetensors.torch import save

    from backends.run.store import _saveable

    metadata = {"format": FORMAT, "catdsl.key": spec["key"], "catdsl.state": spec["state"],
                "catdsl.digest": spec["digest"] or ""}
    files = {WEIGHTS: save(_saveable(weights), metadata=metadata),
             SPEC: (json.dumps(spec, indent=2, ensure_ascii=False) + "\n").encode()}
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            tmp = target / f".{name}.tmp.{os.getpid()}"
            tmp.write_bytes(data)
            os.replace(tmp, target / name)
    except OSError as e:
        raise _error("E904", module, f"cannot write `{target}`: {e.strerror or e}",
                     "give --to a folder this user can write") from None


def _not_computed(module, label: str, where: Path) -> DiagnosticError:
    return _error("E903", module, f"`{label}` is not in the run store `{where}` yet",
                  f"compute it first: catdsl run {module.file}" + (f" --store {where}" if where.name != ".catdsl" else ""))


def _error(code: str, module, message: str, hint: str) -> DiagnosticError:
    return DiagnosticError([Diagnostic(code, message, Span("<command line>", 1, 1, 1, 1), hints=(hint,))])
