"""Step 3: PPO against the reward model, with a per-token KL penalty and the pretraining mix.

    kaizen ppo --policy runs/sft/model --reward_model runs/rm/model --out runs/ppo-ptx
    kaizen ppo ... --ptx_coef 0 --out runs/ppo          # plain PPO, to measure the alignment tax
    kaizen ppo ... --algo grpo --group_size 4           # critic-free: GRPO (or rloo), no value model

InstructGPT's objective (Ouyang et al. 2022, eq. 2):
    E[r(x, y) - β log(π(y|x) / π_SFT(y|x))] + γ E_{x~D_pretrain}[log π(x)]

Each iteration: sample answers to a batch of prompts (KV cache) -> score them with the RM
(answers that never end are penalised) -> per-token rewards -β·KL with the score at the last
token -> GAE -> several epochs of clipped policy and value updates on minibatches, each adding
γ_ptx · NLL on a pretraining batch. The policy starts from SFT, the frozen reference is SFT, the
value model starts from the RM. In fp32 the old log-probs are the ones generation sampled with
(no second policy pass); under mixed precision they are recomputed. Checkpoints every
``save_every`` iterations; a killed run resumes on the same prompts. Generation vs training
time is logged every iteration.

``--algo grpo | rloo`` replace the value model and GAE by a baseline from the other answers:
each prompt is sampled ``group_size`` times and an answer's advantage is its score against its
group's (losses/critic_free.py). The rollouts, KL penalty, ptx term, optimiser and checkpoints
are the same; no value model is loaded.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

from kaizen.config import ConfigError, arg, parse_config
from kaizen.eval.monitors import MonitorConfig, RewardHackingMonitor
from kaizen.data.formats import load_records
from kaizen.generation import SamplingParams, chat_prompt, generate
from kaizen.lazy import lazy_import, no_grad
from kaizen.losses.critic_free import (clipped_policy_loss, group_normalised_advantages, leave_one_out_advantages,
                                       sequence_kl_penalised_scores)
from kaizen.losses.kl import AdaptiveKLController, FixedKLController
from kaizen.losses.ppo import (apply_eos_penalty, entropy_from_logits, gae, kl_penalty_rewards, masked_mean,
                               masked_whiten, policy_loss, ptx_loss, value_loss)
from kaizen.losses.sft import token_logprobs
from kaizen.models.adapters import is_adapter_dir
from kaizen.models.loading import load_causal_lm, load_tokenizer, resolve_precision
from kaizen.models.scalar_head import load_scalar_model, scalar_head, token_values
from kaizen.ppo_rollout import Rollout, build_rollout
from kaizen.training.checkpoint import StageCheckpointer
from kaizen.training.loop import make_accelerator, save_trained
from kaizen.training.packing import matches_padded, pack_rows, packed_hidden_states, packed_logprobs, unpack
from kaizen.training.metrics import MetricsLogger
from kaizen.training.progress import progress
from kaizen.training.rundir import prepare_run_dir

torch = lazy_import("torch")


@dataclass(frozen=True)
class PPOConfig:
    """Step 3: PPO (-ptx), GRPO or RLOO against a reward model."""

    algo: str = arg("ppo", "ppo (value model + GAE) | grpo (group-normalised advantages) | rloo (leave-one-out "
                           "baseline); grpo and rloo keep no value model.")
    group_size: int = arg(4, "G: answers sampled per prompt for grpo / rloo (each iteration samples "
                             "rollout_batch_size x G rows). Unused by ppo.")
    kl_in: str = arg("auto", "Where the KL to the reference goes: reward (β·KL per token / per answer subtracted "
                             "from the reward) | loss (β·k3 KL added to the policy loss, DeepSeekMath) | auto "
                             "(grpo: loss; ppo, rloo: reward).")
    loss_normalisation: str = arg("sequence", "grpo / rloo policy loss: sequence (each answer's token mean, then "
                                              "the mean over answers; GRPO) | token (one mean over all tokens; "
                                              "DAPO). ppo always takes the token mean.")
    scale_by_std: bool = arg(True, "grpo: divide by the group's score std (false: Dr. GRPO, centring only).")
    policy: str = arg("runs/sft/model", "Initial policy (the SFT model); also the frozen reference unless ref_model is set.")
    ref_model: str | None = arg(None, "Frozen reference for the KL penalty (default: the initial policy).")
    reward_model: str = arg("runs/rm/model", "Reward model directory (kaizen rm output).")
    value_model: str | None = arg(None, "Value model init (default: the reward model, as InstructGPT).")
    prompts: list[str] = arg([], "Prompt files / datasets (any format with a prompt); required.")
    ptx_data: list[str] = arg([], "Pretraining text for the ptx term; required unless ptx_coef is 0.")
    # 0.05: OpenRLHF's default for the same term (γ times the token-mean NLL, added to the policy loss).
    # At 1.0 the term outweighs the PPO loss and pretrains the policy back towards the base model
    # (docs/demo-world.md); InstructGPT's 27.8 is in its own loss scale and diverges in DeepSpeed-Chat.
    ptx_coef: float = arg(0.05, "γ of the pretraining mix (0 switches it off: plain PPO). 0.05: OpenRLHF's default "
                                "for real models; the demo measured 0.1 (configs/demo/ppo_ptx.yaml); 1.0 pretrains "
                                "the policy back towards the base model.")
    out: str = arg("runs/ppo", "Run directory; the policy is saved to OUT/model.")
    iterations: int = arg(60, "PPO iterations (rollout + update).")
    rollout_batch_size: int = arg(64, "Prompts sampled per iteration.")
    ppo_epochs: int = arg(4, "Optimisation epochs over each rollout batch.")
    minibatch_size: int = arg(16, "Rollouts (answers) per gradient step.")
    lr: float = arg(1e-5, "Policy learning rate.")
    value_lr: float = arg(5e-5, "Value model learning rate.")
    warmup_iterations: int = arg(0, "Iterations over which both learning rates warm up linearly from 0.")
    kl_coef: float = arg(0.02, "β: per-token KL penalty coefficient. 0.02: InstructGPT's, for real models; the demo's "
                               "2M-parameter RM needs 0.3 (at 0.1 PPO finds its blind spots; configs/demo/ppo_ptx.yaml).")
    adaptive_kl: bool = arg(False, "Adapt β towards kl_target (Ziegler et al. 2019).")
    kl_target: float = arg(6.0, "Target KL (nats per answer) of the adaptive controller.")
    kl_horizon: int = arg(10000, "Horizon of the adaptive controller.")
    kl_estimator: str = arg("k1", "k1 (log-ratio, InstructGPT) | k3 (non-negative, lower variance).")
    gamma: float = arg(1.0, "GAE discount.")
    lam: float = arg(0.95, "GAE λ.")
    clip_eps: float = arg(0.2, "Policy ratio clip ε.")
    value_clip_eps: float = arg(0.2, "Value clip ε.")
    whiten_advantages: bool = arg(True, "Normalise advantages per rollout batch.")
    entropy_coef: float = arg(0.0, "Entropy bonus (0: none, as InstructGPT).")
    missing_eos_penalty: float | None = arg(-1.0, "Score given instead of the RM's to answers that never end (none: off).")
    max_new_tokens: int = arg(48, "Longest sampled answer (48 fits the demo's short answers; real chat models need "
                                  "256 or more, configs/qwen2.5-0.5b/ppo.yaml).")
    temperature: float = arg(1.0, "Sampling temperature of rollouts.")
    top_p: float = arg(1.0, "Nucleus mass of rollouts.")
    max_prompt_tokens: int = arg(384, "Prompts longer than this are skipped (and counted).")
    ptx_block_size: int = arg(128, "Tokens per pretraining sequence in the ptx term.")
    lora_r: int = arg(0, "LoRA rank for policy and value (0: full models). The reference is the policy's frozen base.")
    lora_alpha: int = arg(32, "LoRA alpha.")
    max_grad_norm: float = arg(1.0, "Gradient clipping.")
    padding_free: bool = arg(True, "Forward passes over the rollout packed into one sequence per minibatch, with "
                                   "log-probs only at answer tokens: the same numbers as padded passes (checked "
                                   "once per run), less compute where rows differ in length (demo PPO-ptx: 6% "
                                   "faster update in fp32, even in bf16; bench/README.md).")
    precision: str = arg("auto", "auto | fp32 | bf16 | fp16 (auto: the faster of bf16 and fp32 here, measured once and cached).")
    seed: int = arg(0, "Seed of prompt order and sampling.")
    save_every: int = arg(20, "Checkpoint every N iterations (0: never).")
    log_every: int = arg(1, "Log every N iterations.")
    trust_remote_code: bool = arg(False, "Allow custom model code from the hub.")
    monitor: MonitorConfig = arg(MonitorConfig, "Reward-hacking monitors (kaizen.eval.monitors).")


ALGOS = ("ppo", "grpo", "rloo")


def check_config(cfg: PPOConfig) -> None:
    if cfg.algo not in ALGOS:
        raise ConfigError(f"config key 'algo': {cfg.algo!r} is not one of {', '.join(ALGOS)}")
    if cfg.algo != "ppo" and cfg.group_size < 2:
        raise ConfigError(f"config key 'group_size': {cfg.algo} needs at least 2 answers per prompt, got {cfg.group_size}")
    if cfg.kl_in not in ("auto", "reward", "loss"):
        raise ConfigError(f"config key 'kl_in': {cfg.kl_in!r} is not one of auto, reward, loss")
    if cfg.algo == "ppo" and cfg.kl_in == "loss":
        raise ConfigError("config key 'kl_in': ppo puts the KL in the per-token reward (its value model learns "
                          "it); 'loss' is for grpo / rloo")
    if cfg.loss_normalisation not in ("sequence", "token"):
        raise ConfigError(f"config key 'loss_normalisation': {cfg.loss_normalisation!r} is not sequence or token")
    if not cfg.prompts:
        raise ConfigError("config key 'prompts': give the prompt files PPO samples answers to (--prompts FILE)")
    if cfg.ptx_coef > 0 and not cfg.ptx_data:
        raise ConfigError("config key 'ptx_data': PPO-ptx mixes in pretraining text: give --ptx_data FILE "
                          "(or --ptx_coef 0 for plain PPO)")
    # An adapter directory without its base (what --prompt_tuning_tokens saves) loads frozen, and a
    # prompt-tuned forward drops the position ids the packed passes rely on: not a model PPO trains.
    if is_adapter_dir(cfg.policy):
        raise ConfigError(f"config key 'policy': {cfg.policy} is a peft adapter without its base (prompt tuning); "
                          "PPO trains a full policy or LoRA on one: start from its base model")
    if cfg.algo == "ppo" and is_adapter_dir(cfg.value_model or cfg.reward_model):
        key = "value_model" if cfg.value_model else "reward_model"
        raise ConfigError(f"config key '{key}': the value model would start from a peft adapter without its base "
                          "(a prompt-tuned RM), which PPO cannot train; give --value_model a full RM or its base, "
                          "or use --algo grpo / rloo (no value model; a prompt-tuned RM still scores)")


def kl_placement(cfg: PPOConfig) -> str:
    """``auto``: GRPO as DeepSeekMath (KL in the loss), RLOO as Ahmadian et al. and PPO (in the reward)."""
    if cfg.kl_in != "auto":
        return cfg.kl_in
    return "loss" if cfg.algo == "grpo" else "reward"


def _lora(model, cfg: PPOConfig, task: str):
    from peft import LoraConfig, get_peft_model

    modules_to_save = ["score"] if task == "SEQ_CLS" else None
    return get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, target_modules="all-linear",
                                            task_type=task, modules_to_save=modules_to_save))


class PPOTrainer:
    """Holds the models (policy, reference, reward; a value model for ppo only) and runs iterations."""

    def __init__(self, cfg: PPOConfig):
        from accelerate.utils import set_seed
        from transformers import get_scheduler

        from kaizen.reward import load_reward_model

        check_config(cfg)  # before any model is loaded
        self.cfg = cfg
        self.kl_in = kl_placement(cfg)
        self.group = cfg.group_size if cfg.algo != "ppo" else 1
        self.acc = make_accelerator(resolve_precision(cfg.precision))
        if cfg.minibatch_size % self.acc.num_processes:
            raise ConfigError(f"config key 'minibatch_size': {cfg.minibatch_size} rows do not split evenly over "
                              f"{self.acc.num_processes} processes")
        set_seed(cfg.seed)
        self.tokenizer = load_tokenizer(cfg.policy, trust_remote_code=cfg.trust_remote_code)
        policy = load_causal_lm(cfg.policy, trust_remote_code=cfg.trust_remote_code)
        value = None
        if cfg.algo == "ppo":
            value = load_scalar_model(cfg.value_model or cfg.reward_model, trust_remote_code=cfg.trust_remote_code)
        if cfg.lora_r > 0:
            policy = _lora(policy, cfg, "CAUSAL_LM")
            value = _lora(value, cfg, "SEQ_CLS") if value is not None else None
            self.ref = None  # the policy with its adapter disabled
        else:
            self.ref = load_causal_lm(cfg.ref_model or cfg.policy).to(self.acc.device).eval().requires_grad_(False)
        self.reward = load_reward_model(cfg.reward_model)
        self.reward.model.to(self.acc.device).eval().requires_grad_(False)
        # Warm-up: the first update otherwise meets advantages from a value head that was never
        # trained as a value function and takes a large step (KL jumped to ~12 nats in the demo).
        rows = cfg.rollout_batch_size * self.group
        warm = cfg.warmup_iterations * cfg.ppo_epochs * -(-rows // cfg.minibatch_size)
        opt_p = torch.optim.AdamW([p for p in policy.parameters() if p.requires_grad], lr=cfg.lr, eps=1e-5)
        sch_p = get_scheduler("constant_with_warmup", opt_p, num_warmup_steps=warm)
        self.policy, self.opt_p, self.sch_p = self.acc.prepare(policy, opt_p, sch_p)
        self.value = self.opt_v = self.sch_v = None
        if value is not None:
            opt_v = torch.optim.AdamW([p for p in value.parameters() if p.requires_grad], lr=cfg.value_lr, eps=1e-5)
            sch_v = get_scheduler("constant_with_warmup", opt_v, num_warmup_steps=warm)
            self.value, self.opt_v, self.sch_v = self.acc.prepare(value, opt_v, sch_v)
        self.kl_ctl = (AdaptiveKLController(cfg.kl_coef, cfg.kl_target, cfg.kl_horizon) if cfg.adaptive_kl
                       else FixedKLController(cfg.kl_coef))
        self.prompts = self._load_prompts()
        self.ptx_blocks = self._load_ptx() if cfg.ptx_coef > 0 else []
        self.params = SamplingParams(cfg.max_new_tokens, cfg.temperature, cfg.top_p)
        self.padding_free, self._passes_checked = cfg.padding_free, False
        self.reuse_logprobs = self._generation_numerics()  # the old log-probs: generation's, not a second pass

    def _load_prompts(self):
        convs = [c for src in self.cfg.prompts for c in load_records(src, "prompt")]
        keep = [c for c in convs if len(self.tokenizer(chat_prompt(self.tokenizer, c), add_special_tokens=False)["input_ids"])
                <= self.cfg.max_prompt_tokens]
        if len(keep) < len(convs):
            print(f"ppo: skipped {len(convs) - len(keep)} prompts longer than {self.cfg.max_prompt_tokens} tokens")
        if not keep:
            raise ValueError(f"no usable prompt in {self.cfg.prompts}")
        return keep

    def _load_ptx(self) -> list[list[int]]:
        from kaizen.pretrain import tokenize_corpus

        texts = [t for src in self.cfg.ptx_data for t in load_records(src, "text")]
        return tokenize_corpus(self.tokenizer, texts, self.cfg.ptx_block_size)

    def prompts_for(self, iteration: int):
        """The iteration's prompts: a pure function of (seed, iteration), so resume sees the same ones."""
        n, b = len(self.prompts), self.cfg.rollout_batch_size
        out = []
        for j in range(iteration * b, (iteration + 1) * b):
            epoch, pos = divmod(j, n)
            order = list(range(n))
            random.Random(self.cfg.seed * 7919 + epoch).shuffle(order)
            out.append(self.prompts[order[pos]])
        return out

    # ----- forward passes ---------------------------------------------------------------------
    @staticmethod
    def _rows(r: Rollout, idx=None):
        return (r.input_ids, r.attention_mask, r.mask) if idx is None else (r.input_ids[idx], r.attention_mask[idx], r.mask[idx])

    def _logprobs(self, model, r: Rollout, idx=None, padding_free: bool | None = None):
        """``(log-probs [b, L-1], logits, the mask over the logits' positions)`` of rows ``idx``."""
        ids, att, mask = self._rows(r, idx)
        if self.padding_free if padding_free is None else padding_free:
            lp, logits = packed_logprobs(model, pack_rows(ids, att, mask))
            return lp, logits.unsqueeze(0), torch.ones(logits.shape[:1], dtype=torch.bool, device=mask.device)[None]
        logits = model(input_ids=ids, attention_mask=att, use_cache=False).logits[:, :-1]
        return token_logprobs(logits, ids[:, 1:]), logits, mask

    def _values(self, r: Rollout, idx=None) -> torch.Tensor | None:
        if self.value is None:
            return None
        ids, att, mask = self._rows(r, idx)
        if self.padding_free:
            packed = pack_rows(ids, att, mask)
            return unpack(scalar_head(self.value)(packed_hidden_states(self.value, packed)).squeeze(-1).float(), packed)
        return token_values(self.value, ids, att)[:, :-1]

    @no_grad
    def _rollout_passes(self, r: Rollout, policy: bool = True):
        """Old log-probs (None unless ``policy``), reference log-probs and values of the whole rollout, ``[B, L-1]`` each.

        Under the training autocast, so that the first update's ratio π/π_old is 1 in bf16 too.
        Packed passes go ``minibatch_size`` rows at a time: a packed row attends over the block's
        whole length, so one block of B rows would cost B² in attention.
        """
        chunk = self.cfg.minibatch_size if self.padding_free else r.size
        old_lp, ref_lp, values = [], [], []
        with self.acc.autocast():
            for s in range(0, r.size, chunk):
                idx = torch.arange(s, min(s + chunk, r.size), device=r.input_ids.device)
                if policy:
                    old_lp.append(self._logprobs(self.policy, r, idx)[0])
                if self.ref is not None:
                    ref_lp.append(self._logprobs(self.ref, r, idx)[0])
                else:
                    with self.acc.unwrap_model(self.policy).disable_adapter():
                        ref_lp.append(self._logprobs(self.policy, r, idx)[0])
                values.append(self._values(r, idx))
        old_values = torch.cat(values) if self.value is not None else None
        return torch.cat(old_lp) if policy else None, torch.cat(ref_lp), old_values

    def _generation_numerics(self) -> bool:
        """Whether generation's log-probs are the ones a pass here would compute: both fp32 with no autocast.

        Under bf16 / fp16 autocast the training passes round differently from the cached decode
        (which runs outside autocast), and the first update's ratio π/π_old must be 1 in the
        training numerics: there the old log-probs are recomputed. A model whose cached decode
        attends differently from a full pass (sliding windows past their width, say) is caught
        by the check in ``_check_passes``.
        """
        return self.acc.mixed_precision == "no" and all(p.dtype == torch.float32 for p in self.policy.parameters())

    def _check_passes(self, r: Rollout) -> None:
        """Once, on the first rollout's first rows, against a padded pass: packed passes must give its log-probs
        (else this model mixes packed rows), and so must generation's (else they are recomputed)."""
        self._passes_checked = True
        idx = torch.arange(min(4, r.size), device=r.input_ids.device)
        mask = r.mask[idx]
        with torch.no_grad(), self.acc.autocast():
            padded = self._logprobs(self.policy, r, idx, padding_free=False)[0]
            packed = self._logprobs(self.policy, r, idx, padding_free=True)[0] if self.padding_free else None
        name = type(self.acc.unwrap_model(self.policy)).__name__
        if packed is not None and not matches_padded(padded, packed, mask,
                                                     tol=1e-3 if self.acc.mixed_precision == "no" else 5e-2):
            print(f"ppo: packed forward passes disagree with padded ones for {name} "
                  "(its attention ignores position_ids?): using padded passes")
            self.padding_free = False
        # 1e-4: fp32 rounding between the cached decode and a full pass is ~1e-6 (tests/test_generation.py).
        if self.reuse_logprobs and not matches_padded(padded, r.logprobs[idx], mask, tol=1e-4):
            print(f"ppo: the log-probs generation returned for {name} disagree with a forward pass: recomputing them")
            self.reuse_logprobs = False

    # ----- one iteration ----------------------------------------------------------------------
    def iteration(self, it: int) -> dict[str, float]:
        cfg, dev = self.cfg, self.acc.device
        t0 = time.perf_counter()
        # Each prompt `group` times in a row: the layout the critic-free advantages expect.
        prompts = [p for p in self.prompts_for(it) for _ in range(self.group)]
        texts = [chat_prompt(self.tokenizer, p) for p in prompts]
        gens = generate(self.acc.unwrap_model(self.policy), self.tokenizer, texts, self.params,
                        batch_size=len(texts), seed=cfg.seed * 100_003 + it)
        t_gen = time.perf_counter() - t0
        self.last_answers = [g.text for g in gens]  # read by the reward-hacking monitor

        r = build_rollout(gens, self.tokenizer.pad_token_id, dev)
        scores_raw = torch.tensor(self.reward.score(prompts, [g.text for g in gens]), device=dev)
        scores = scores_raw if cfg.missing_eos_penalty is None else apply_eos_penalty(
            scores_raw, r.ended, cfg.missing_eos_penalty)
        self.policy.eval()
        if r.logprobs is None:
            self.reuse_logprobs = False
        if not self._passes_checked:
            self._check_passes(r)
        old_lp, ref_lp, old_values = self._rollout_passes(r, policy=not self.reuse_logprobs)
        if self.reuse_logprobs:
            old_lp = r.logprobs
        rewards, kl = kl_penalty_rewards(scores, old_lp, ref_lp, r.mask, self.kl_ctl.value, cfg.kl_estimator)
        returns = None
        if cfg.algo == "ppo":
            advantages, returns = gae(rewards, old_values, r.mask, cfg.gamma, cfg.lam)
            if cfg.whiten_advantages:
                advantages = masked_whiten(advantages, r.mask)
        else:
            seq_scores = scores if self.kl_in == "loss" else sequence_kl_penalised_scores(
                scores, kl, r.mask, self.kl_ctl.value)
            advantages = (group_normalised_advantages(seq_scores, self.group, cfg.scale_by_std) if cfg.algo == "grpo"
                          else leave_one_out_advantages(seq_scores, self.group))
        t_score = time.perf_counter() - t0 - t_gen

        stats = self._optimise(r, old_lp, ref_lp, old_values, advantages, returns, it)
        t_train = time.perf_counter() - t0 - t_gen - t_score
        kl_per_answer = (kl * r.mask).sum(1).mean().item()
        self.kl_ctl.update(kl_per_answer, r.size)
        advantage_stats = ({"advantage_mean": masked_mean(advantages, r.mask).item(),
                            "return_mean": masked_mean(returns, r.mask).item()} if returns is not None
                           else {"advantage_mean": advantages.mean().item(), "advantage_std": advantages.std().item()})
        return {
            "reward": scores.mean().item(), "rm_score": scores_raw.mean().item(),
            "non_score_reward": (-self.kl_ctl.value * kl * r.mask).sum(1).mean().item(),
            "kl": kl_per_answer, "kl_coef": self.kl_ctl.value,
            "response_length": r.mask.sum(1).float().mean().item(), "ended_fraction": r.ended.float().mean().item(),
            **advantage_stats, **stats, "time_generation_s": t_gen, "time_scoring_s": t_score, "time_training_s": t_train,
        }

    def _policy_loss(self, lp, old_lp, ref_lp, advantages, mask):
        """The algorithm's surrogate on one minibatch: (loss, clip fraction, approx KL to the old policy)."""
        cfg = self.cfg
        if cfg.algo == "ppo":
            loss, st = policy_loss(lp, old_lp, advantages, mask, cfg.clip_eps)
            return loss, st.clip_frac, st.approx_kl
        beta = self.kl_ctl.value if self.kl_in == "loss" else 0.0
        loss, st = clipped_policy_loss(lp, old_lp, advantages, mask, cfg.clip_eps, ref_logprobs=ref_lp,
                                       kl_coef=beta, normalisation=cfg.loss_normalisation)
        return loss, st.clip_frac, st.approx_kl

    def _share(self, mask_local, mask_global) -> float:
        """This process's weight in the minibatch's normaliser, times the process count.

        Every process holds the whole rollout and takes every world-th row of each minibatch; the
        losses are means over its own rows, and DDP averages gradients over processes, so scaling by
        world · local / global items makes the sum the 1-process minibatch mean (1.0 with one process).
        """
        world = self.acc.num_processes
        if world == 1:
            return 1.0
        per_answer = self.cfg.algo != "ppo" and self.cfg.loss_normalisation == "sequence"
        count = (lambda m: m.any(1).sum()) if per_answer else (lambda m: m.sum())
        return world * count(mask_local).item() / max(count(mask_global).item(), 1)

    def _optimise(self, r: Rollout, old_lp, ref_lp, old_values, advantages, returns, it: int) -> dict[str, float]:
        cfg, world, rank = self.cfg, self.acc.num_processes, self.acc.process_index
        self.policy.train()
        if self.value is not None:
            self.value.train()
        gen = torch.Generator().manual_seed(cfg.seed * 31 + it)
        sums: dict[str, float] = {}
        n = 0
        for epoch in range(cfg.ppo_epochs):
            order = torch.randperm(r.input_ids.shape[0], generator=gen)
            for s in range(0, len(order), cfg.minibatch_size):
                minibatch = order[s:s + cfg.minibatch_size].to(self.acc.device)
                idx = minibatch[rank::world]
                mask = r.mask[idx]
                share = self._share(mask, r.mask[minibatch])
                with self.acc.autocast():
                    lp, logits, logits_mask = self._logprobs(self.policy, r, idx)
                    pg, clip_frac, approx_kl = self._policy_loss(lp, old_lp[idx], ref_lp[idx], advantages[idx], mask)
                    entropy = entropy_from_logits(logits.detach() if cfg.entropy_coef == 0 else logits, logits_mask)
                    loss = (pg - cfg.entropy_coef * entropy) * share
                ptx = torch.zeros((), device=self.acc.device)
                if self.ptx_blocks:
                    ids = self._ptx_batch(gen)[rank::world]  # equal shares: minibatch_size % world == 0
                    with self.acc.autocast():
                        ptx = ptx_loss(self.policy(input_ids=ids, use_cache=False).logits, ids, cfg.ptx_coef)
                        loss = loss + ptx
                self.acc.backward(loss)
                self.acc.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
                self.opt_p.step()
                self.sch_p.step()
                self.opt_p.zero_grad(set_to_none=True)
                row = {"policy_loss": pg.item(), "entropy": entropy.item(), "clip_fraction": clip_frac.item(),
                       "approx_kl": approx_kl.item()}
                weights = dict.fromkeys(row, share / world)
                row["ptx_loss"], weights["ptx_loss"] = ptx.item(), 1 / world
                if self.value is not None:
                    value_share = self._share_tokens(mask, r.mask[minibatch])
                    for k, v in self._value_step(r, idx, old_values, returns, value_share).items():
                        row[k], weights[k] = v, value_share / world
                for k, val in self._across_processes(row, weights).items():
                    sums[k] = sums.get(k, 0.0) + val
                n += 1
        return {k: v / max(n, 1) for k, v in sums.items()}

    def _share_tokens(self, mask_local, mask_global) -> float:
        world = self.acc.num_processes
        return 1.0 if world == 1 else world * mask_local.sum().item() / max(mask_global.sum().item(), 1)

    def _across_processes(self, row: dict[str, float], weights: dict[str, float]) -> dict[str, float]:
        """Each logged statistic as the whole minibatch's: the processes' values weighted by their shares."""
        if self.acc.num_processes == 1:
            return row
        keys = sorted(row)
        local = torch.tensor([row[k] * weights[k] for k in keys], dtype=torch.float64, device=self.acc.device)
        return dict(zip(keys, self.acc.reduce(local, reduction="sum").tolist()))

    def _value_step(self, r: Rollout, idx, old_values, returns, share: float = 1.0) -> dict[str, float]:
        with self.acc.autocast():
            v = self._values(r, idx)
            vf, vstats = value_loss(v, old_values[idx], returns[idx], r.mask[idx], self.cfg.value_clip_eps)
        self.acc.backward(vf * share)
        self.acc.clip_grad_norm_(self.value.parameters(), self.cfg.max_grad_norm)
        self.opt_v.step()
        self.sch_v.step()
        self.opt_v.zero_grad(set_to_none=True)
        return {"value_loss": vf.item(), "value_clip_fraction": vstats.clip_frac.item(), "value_error": vstats.mse.item()}

    def _ptx_batch(self, gen: torch.Generator) -> torch.Tensor:
        """A minibatch of pretraining blocks, drawn with the iteration's generator (so resume repeats it)."""
        pick = torch.randint(len(self.ptx_blocks), (self.cfg.minibatch_size,), generator=gen).tolist()
        return torch.tensor([self.ptx_blocks[i] for i in pick], device=self.acc.device)

    def save(self, out_dir: Path) -> Path:
        return save_trained(self.acc, self.policy, self.tokenizer, out_dir / "model")


def run(cfg: PPOConfig, should_stop=None) -> Path:
    run_dir = prepare_run_dir(cfg.out, cfg, "ppo")
    trainer = PPOTrainer(cfg)
    ckpt = StageCheckpointer(trainer.acc, run_dir, keep=2)
    start = ckpt.restore(extra_state={"kl_ctl": trainer.kl_ctl})
    logger = MetricsLogger(run_dir, enabled=trainer.acc.is_main_process)
    bar = progress(cfg.iterations, cfg.algo + ("-ptx" if cfg.ptx_coef > 0 else ""), initial=start, unit="it",
                   disable=not trainer.acc.is_main_process)
    monitor = RewardHackingMonitor(cfg.monitor, trainer, run_dir)
    for it in range(start, cfg.iterations):
        stats = trainer.iteration(it)
        stats.update(monitor.observe(it + 1, stats, trainer.last_answers))
        bar.update(1)
        bar.set_postfix(reward=f"{stats['reward']:.3f}", kl=f"{stats['kl']:.2f}",
                        gen_s=f"{stats['time_generation_s']:.1f}", train_s=f"{stats['time_training_s']:.1f}")
        if (it + 1) % cfg.log_every == 0 or it + 1 == cfg.iterations:
            logger.log(it + 1, stats, prefix="ppo/")
        if cfg.save_every and (it + 1) % cfg.save_every == 0 and it + 1 < cfg.iterations:
            ckpt.save(it + 1, extra_state={"kl_ctl": trainer.kl_ctl})
        if should_stop is not None and should_stop(it + 1):
            bar.close()
            return run_dir
        if monitor.should_stop:
            break
    bar.close()
    logger.close()
    model_dir = monitor.final_model(trainer, run_dir)
    from kaizen.training.metrics import read_metrics

    last = [r for r in read_metrics(run_dir) if "ppo/reward" in r]
    summary = {"algo": cfg.algo, "iterations": cfg.iterations, "ptx_coef": cfg.ptx_coef,
               "first_reward": last[0]["ppo/reward"] if last else None,
               "final_reward": last[-1]["ppo/reward"] if last else None,
               "final_kl": last[-1]["ppo/kl"] if last else None}
    (run_dir / "eval.json").write_text(json.dumps(summary, indent=2))
    print(f"{cfg.algo}: reward {summary['first_reward']:.3f} -> {summary['final_reward']:.3f}, KL {summary['final_kl']:.2f}; "
          f"policy saved to {model_dir}")
    return model_dir


def main(argv: list[str]) -> int:
    run(parse_config(PPOConfig, argv, prog="kaizen ppo"))
    return 0
