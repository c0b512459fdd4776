"""The job kinds of the torch backend: how each job's spec is made and how it runs.

- `init`: the state at step 0 of a source object (`init(seed = …)`); ready init jobs run as one
  call (one store transaction for a 100-seed sweep's initial states);
- `train`: one training segment (a generator's optimizer spec) resumed from its upstream state,
  reporting each epoch (`backends.run.jobs.report`) and keeping its last epoch so that an
  interrupted run resumes from it (`backends.torch.resume`), an ensemble as well as one run.
  A sweep member's segment is marked `"ensemble": true`: ready members that can share one
  batched run — same architecture, data, loss, starting step and what the optimizer's registry
  entry says members must share — train together (`backends.torch.ensemble.train_ensemble`),
  which agrees with training alone up to float rounding only, so such a job never shares a key
  (nor a state) with a bitwise-exact single run;
- `checkpoints`: the states (parameters and buffers) at the start and after every epoch of a
  `train` job's segment, made by re-running it one epoch at a time (equal to the stored run bit
  for bit by the resume law; the job records whether it was);
- `features`: the path of feature maps L(γ) of the learning functor along those checkpoints,
  on a probe set at one layer.

Each state is stored as safetensors (never pickled) with its step, epoch and digest. Torch is
imported only by the bodies, when a job runs. `backends.torch.plan` registers these kinds.

Every body here *computes*: it reads its dependencies from the store and returns its results
(`backends.run.jobs.JobResult`), which the executor's driver stores; so each kind runs on the
workers of any executor (`process`, `ray`) as well as in process.
"""

from __future__ import annotations

import json
import time
from typing import Sequence

from backends.run.jobs import JobContext, JobKind, JobResult, report
from backends.run.plan import CODE_VERSION, Job
from backends.torch.optimizers import ensemble_key
from backends.torch.results import Results, TrainingDiverged
from backends.torch.segment import OptimizerSpec


def _model_json(lf) -> dict:
    from backends.torch.models import spec_json

    return json.loads(spec_json(lf.target.model))


def step_work(model_json: dict, input_shape: tuple, batch: int, members: int = 1) -> float:
    """Rough multiply-adds of one step: parameters × batch × members (× spatial positions for
    image inputs, where convolutions reuse their weights at every position)."""
    from backends.torch.models import spec_from_json
    from backends.torch.train import template

    params = sum(p.numel() for p in template(spec_from_json(json.dumps(model_json))).parameters())
    positions = input_shape[1] * input_shape[2] if len(input_shape) == 3 else 1
    return float(params) * batch * members * positions


def _state_result(ctx: JobContext, job: Job, state, metrics: dict, seconds: float) -> JobResult:
    """The result of a job that made a training state (kept in memory for the jobs after it)."""
    Results(ctx).keep(job.key, state)
    return JobResult.of(job, state.tensors(), metrics, state.digest(), seconds)


# ---- init ---------------------------------------------------------------------------------------


def init_job(lf, obj: str, seed_override: int | None = None) -> Job:
    seed = lf.inits[obj] if seed_override is None else seed_override
    spec = {"model": _model_json(lf), "data": json.loads(lf.target.data.to_json()), "seed": seed,
            "code": CODE_VERSION}
    label = f"{lf.name}.{obj}" if seed_override is None else f"{lf.name}.{obj}(seed={seed})"
    return Job.of("init", spec, label, origin=(lf.name, obj))


def _compute_init(jobs: Sequence[Job], ctx: JobContext) -> list[JobResult]:
    from backends.torch.train import init_state

    made = []
    for job in jobs:
        start = time.perf_counter()
        model, data = Results(ctx).model_and_data(job.spec)
        state = init_state(model, data.input_shape, job.spec["seed"])
        made.append(_state_result(ctx, job, state, {"step": 0, "epoch": 0}, time.perf_counter() - start))
    return made


def _no_work(jobs: Sequence[Job], ctx: JobContext) -> float:
    return 0.0  # one thread: nothing to share


def _init_batch_key(job: Job, ctx: JobContext) -> str:
    """Ready init jobs run as one call (a 100-seed sweep's 100 initial states: one call, one
    store transaction); each state is made alone, so batching changes no bit."""
    return "init"


INIT = JobKind("init", compute=_compute_init, batch_key=_init_batch_key, work=_no_work)


# ---- train --------------------------------------------------------------------------------------


def train_job(lf, generator: str, upstream: Job, opt=None, ensemble: bool = False,
              label: str | None = None, origin: tuple[str, str] | None = None) -> Job:
    opt = opt or lf.segments[generator]
    spec = {"model": _model_json(lf), "data": json.loads(lf.target.data.to_json()),
            "optimizer": json.loads(opt.to_json()), "loss": lf.target.loss, "upstream": upstream.key,
            "code": CODE_VERSION}
    if ensemble:
        spec["ensemble"] = True
    return Job.of("train", spec, label or f"{lf.name}.{generator} after {upstream.label}", (upstream.key,),
                  origin or (lf.name, generator))


def _train_batch_key(job: Job, ctx: JobContext):
    """Sweep members (marked `ensemble`) with equal keys train as one batched run."""
    if not job.spec.get("ensemble"):
        return None
    up = ctx.store.get(job.deps[0]).metrics
    return json.dumps([job.spec["model"], job.spec["data"], job.spec["loss"], *ensemble_key(job.spec["optimizer"]),
                       up["step"], up["epoch"]], sort_keys=True)


def _step_work(jobs: Sequence[Job], ctx: JobContext) -> float:
    """A training step of all of `jobs` (checkpoints re-train their train job's segment)."""
    spec = jobs[0].spec if jobs[0].kind == "train" else ctx.store.get(jobs[0].spec["train"]).spec
    shape = Results(ctx).data_of(spec["data"]).input_shape
    return step_work(spec["model"], tuple(shape), spec["optimizer"]["batch"], len(jobs))


def _compute_train(jobs: Sequence[Job], ctx: JobContext) -> list[JobResult]:
    if jobs[0].spec.get("ensemble"):
        return _train_ensemble(jobs, ctx)
    made: list[JobResult] = []
    for job in jobs:
        try:
            made.append(_train_one(job, ctx))
        except TrainingDiverged as e:
            e.partial = made
            raise
    return made


def _train_one(job: Job, ctx: JobContext) -> JobResult:
    """Train one segment, from the last epoch a previous, interrupted run of it kept
    (`backends.torch.resume`; bit for bit the same result by the resume law)."""
    from backends.torch import resume
    from backends.torch.train import Diverged, evaluate, train

    start = time.perf_counter()
    results = Results(ctx)
    model, data = results.model_and_data(job.spec)
    opt = OptimizerSpec.from_json(job.spec["optimizer"])
    first = results.state(job.deps[0])
    kept = (resume.load(ctx.store, [job.key], [first], opt.epochs) or [None])[0]
    begin = kept.state if kept is not None else first
    done_before = begin.epoch - first.epoch
    keeper = resume.Keeper(ctx, [job.key])
    firsts = (kept.first_loss,) if kept else None
    began = time.perf_counter()

    def after(end) -> None:
        done = done_before + end.done
        if done < opt.epochs and keeper.due():
            keeper.keep(lambda: [end.state()], firsts or (end.first_loss,))
        _report(ctx, done, opt.epochs, end.step, end.loss, end.done, began)

    try:
        traj = train(begin, model, data, opt.replace(epochs=opt.epochs - done_before), loss=job.spec["loss"],
                     device=ctx.device, on_epoch=after)
    except Diverged as e:
        keeper.discard()  # it would diverge again: nothing to resume
        raise TrainingDiverged(job, e.step, e.loss) from None
    state = traj.end
    losses = ((kept.first_loss,) if kept else ()) + traj.losses  # the segment's first batch decides a warning
    metrics = {"step": state.step, "epoch": state.epoch,
               "final_train_loss": traj.losses[-1] if traj.losses else None,
               **evaluate(state, model, data, loss=job.spec["loss"], device=ctx.device)}
    if kept is not None:
        metrics["resumed_at_epoch"] = begin.epoch
    # the record goes when the executor stores the result (`Store.put_many`), not before
    return _state_result(ctx, job, state, _with_divergence(metrics, losses), time.perf_counter() - start)


def _report(ctx: JobContext, done: int, total: int, step: int, loss: float, this_run: int, began: float) -> None:
    """Epoch, step, mean loss and the time left of a running segment, to the executor's progress
    line (`backends.run.jobs.report`); `this_run` epochs were trained since `began` (the others
    were resumed)."""
    if ctx.progress is not None:
        left = (time.perf_counter() - began) / max(this_run, 1) * (total - done)
        report(ctx, f"epoch {done}/{total}  step {step}  loss {loss:.4f}  ETA {_duration(left)}", done / total)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds}s"


def _train_ensemble(jobs: Sequence[Job], ctx: JobContext) -> list[JobResult]:
    """Train sweep members together; return each finished member, then report a divergence
    (with the finished members as its `partial` results, which the executor stores).

    The ensemble reports each epoch and keeps its members' states (`backends.torch.resume`),
    so a run interrupted mid-segment resumes from its last kept epoch, bit for bit.
    Members that cannot share a batched run (BatchNorm, Dropout, different optimizer state)
    train one at a time: their results are then exactly those of single runs.
    On the CPU the ensemble times its epochs to choose its threads (`execute.thread_choice`;
    one in the workers of the process and Ray executors), which changes no bit of it."""
    from backends.run.execute import thread_choice
    from backends.torch import resume
    from backends.torch.ensemble import NotEnsemblable, evaluate_members, train_ensemble
    from backends.torch.optimizers import optimizer
    from backends.torch.train import Diverged, train

    start = time.perf_counter()
    results = Results(ctx)
    model, data = results.model_and_data(jobs[0].spec)
    loss = jobs[0].spec["loss"]
    starts = [results.state(j.deps[0]) for j in jobs]
    opts = [OptimizerSpec.from_json(j.spec["optimizer"]) for j in jobs]
    keys = [j.key for j in jobs]
    kept = resume.load(ctx.store, keys, starts, opts[0].epochs) if len(set(o.epochs for o in opts)) == 1 else None
    keeper = resume.Keeper(ctx, keys)
    begins = [k.state for k in kept] if kept else starts
    done_before = begins[0].epoch - starts[0].epoch
    # the optimizer state each member's result keeps, as an uninterrupted run decides it
    keep = [frozenset(s.opt_state) | optimizer(o.name).state_keys(o, s.params) for s, o in zip(starts, opts)]
    total, began = opts[0].epochs, time.perf_counter()

    def after(end) -> None:
        done = done_before + end.done
        if done < total and not end.diverged and keeper.due():
            keeper.keep(end.states, end.first_losses)
        finite = [v for i, v in enumerate(end.losses) if i not in end.diverged]
        _report(ctx, done, total, end.step, sum(finite) / len(finite) if finite else float("nan"), end.done,
                began)

    try:
        made = train_ensemble(begins, model, data, [o.replace(epochs=total - done_before) for o in opts],
                              loss=loss, device=ctx.device, on_epoch=after, keep=keep,
                              first_losses=[k.first_loss for k in kept] if kept else None,
                              threads=thread_choice(_step_work(jobs, ctx)))
        together = len(jobs)
    except NotEnsemblable:
        made, together, kept = [], 1, None
        for s, o in zip(starts, opts):
            report(ctx, f"member {len(made) + 1}/{len(jobs)}", len(made) / len(jobs))  # advances per member
            try:
                made.append(train(s, model, data, o, loss=loss, device=ctx.device))
            except Diverged as e:
                made.append(e)
    seconds = (time.perf_counter() - start) / len(jobs)
    ends = [r.end for r in made if not isinstance(r, Diverged)]
    scores = iter(evaluate_members(ends, model, data, loss=loss, device=ctx.device))  # as `evaluate` each
    diverged = None
    finished: list[JobResult] = []
    for i, (job, result) in enumerate(zip(jobs, made)):
        if isinstance(result, Diverged):
            diverged = diverged or TrainingDiverged(job, result.step, result.loss)
            continue
        state = result.end
        losses = ((kept[i].first_loss,) if kept else ()) + result.losses
        metrics = {"step": state.step, "epoch": state.epoch, "members": together,
                   "final_train_loss": result.losses[-1] if result.losses else None,
                   **next(scores)}
        if kept:
            metrics["resumed_at_epoch"] = begins[0].epoch
        finished.append(_state_result(ctx, job, state, _with_divergence(metrics, losses), seconds))
    if diverged is not None:  # the batch will not run again as it was: its record is no use
        keeper.discard()
        diverged.partial = finished
        raise diverged
    return finished  # its record goes when the executor stores the first member


# A segment whose training loss at the end is more than EXPLODING times the loss of its first
# batch, and above EXPLODING_FLOOR, "finished" while diverging: finite but exploding (sgd with
# lr = 1e6 on digits ends near 6e5 from 2.3, at chance accuracy). NaN or inf stays E405.
EXPLODING = 10.0
EXPLODING_FLOOR = 1.0


def _with_divergence(metrics: dict, losses) -> dict:
    """`metrics` with a `warning` when the segment's loss exploded while staying finite."""
    end = metrics.get("train_loss")
    if not losses or end is None:
        return metrics
    first = losses[0]
    if end > EXPLODING_FLOOR and end > EXPLODING * first:
        return {**metrics, "warning": f"loss exploded: {first:.3g} at the first step, {end:.3g} on the "
                                      "training set at the end; lower the learning rate"}
    return metrics


TRAIN = JobKind("train", compute=_compute_train, batch_key=_train_batch_key, work=_step_work)


# ---- checkpoints --------------------------------------------------------------------------------


def checkpoints_of(train: Job) -> Job:
    spec = {"train": train.key, "every": "epoch", "code": CODE_VERSION}
    return Job.of("checkpoints", spec, f"checkpoints of {train.label}", (train.key,), train.origin)


def _compute_checkpoints(jobs: Sequence[Job], ctx: JobContext) -> list[JobResult]:
    """Re-run a train job's segment one epoch at a time, keeping the state after each epoch."""
    from backends.torch.train import Diverged, states_equal, train

    results = Results(ctx)
    made: list[JobResult] = []
    for job in jobs:
        start = time.perf_counter()
        trained = ctx.store.get(job.spec["train"])
        model, data = results.model_and_data(trained.spec)
        opt = OptimizerSpec.from_json(trained.spec["optimizer"])
        state = results.state(trained.spec["upstream"])
        points = [state]
        one = opt.replace(epochs=1)
        try:
            for _ in range(opt.epochs):
                state = train(state, model, data, one, loss=trained.spec["loss"], device=ctx.device).end
                points.append(state)
        except Diverged as e:
            diverged = TrainingDiverged(trained, e.step, e.loss)
            diverged.partial = made
            raise diverged from None
        bitwise, difference = states_equal(state, results.state(trained.key))
        tensors = {f"{i}/{group}/{name}": t for i, p in enumerate(points)
                   for group, ts in (("param", p.params), ("buffer", p.buffers)) for name, t in ts.items()}
        metrics = {"points": len(points), "steps": [p.step for p in points], "epochs": [p.epoch for p in points],
                   "reproduces": bitwise, "difference": difference}
        made.append(JobResult.of(job, tensors, metrics, None, time.perf_counter() - start))
    return made


CHECKPOINTS = JobKind("checkpoints", compute=_compute_checkpoints, work=_step_work)


# ---- features -----------------------------------------------------------------------------------

# k of the structure condition (k nearest neighbours under the start features) unless a check
# sets it (`check L.structure with k = …`).
DEFAULT_K = 10


def features_of(checkpoints: Job, lf, rep, train: Job) -> Job:
    """L(γ) for the trajectory γ of `train`: its checkpoints' features on the probe set."""
    spec = {"checkpoints": checkpoints.key, "model": _model_json(lf), "layer": rep.layer,
            "probe": rep.probe.to_json(), "code": CODE_VERSION}
    generator = train.origin[1] if train.origin else "?"
    return Job.of("features", spec, f"{rep.name}({train.label})", (checkpoints.key,), (rep.name, generator))


def along(model_spec, points, layer: int, probe):
    """L(γ) for checkpoints `points`: features after `layer` of each state, on `probe`."""
    from backends.torch.features import RepPath, features
    from backends.torch.train import template

    module = template(model_spec)
    return RepPath(tuple(features(module, {**p.params, **p.buffers}, layer, probe) for p in points))


def _compute_features(jobs: Sequence[Job], ctx: JobContext) -> list[JobResult]:
    """L(γ): the features of every checkpoint on the probe set, stacked (points, probe, width)."""
    import torch

    from backends.torch.features import linear_cka, procrustes_distance, structure_violation_rate
    from backends.torch.models import spec_from_json

    results = Results(ctx)
    made = []
    for job in jobs:
        start = time.perf_counter()
        model = spec_from_json(json.dumps(job.spec["model"]))
        probe = results.probe(job.spec["probe"])
        points = results.checkpoints(job.spec["checkpoints"])
        path = along(model, points, job.spec["layer"], probe)
        n = probe.shape[0]
        metrics = {"points": len(path), "probe": n, "width": int(path.start.shape[1]),
                   "cka": linear_cka(path.start, path.end) if n >= 4 else None,
                   "procrustes": procrustes_distance(path.start, path.end),
                   "structure": structure_violation_rate(path, k=min(DEFAULT_K, n - 1)).value,
                   "k": min(DEFAULT_K, n - 1)}
        metrics = {k: (None if isinstance(v, float) and v != v else v) for k, v in metrics.items()}
        tensors = {"features": torch.stack(path.points), "steps": torch.tensor([p.step for p in points])}
        made.append(JobResult.of(job, tensors, metrics, None, time.perf_counter() - start))
    return made


def _probe_work(jobs: Sequence[Job], ctx: JobContext) -> float:
    """The probe set through the model."""
    spec = jobs[0].spec
    shape = Results(ctx).data_of(spec["probe"]["data"]).input_shape
    return step_work(spec["model"], tuple(shape), spec["probe"]["size"], len(jobs))


FEATURES = JobKind("features", compute=_compute_features, work=_probe_work)
