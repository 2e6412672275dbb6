"""Sticky and once instruction modes: which frames run the language model, which reuse [SEG]."""
import pytest

from instructpart_ros.ros.instruction_policy import InferencePlan, InstructionPolicy


def run_frames(policy, count, embedding="emb"):
    """Plan ``count`` frames, recording ``embedding`` after each language-model run."""
    plans = []
    for _ in range(count):
        plan = policy.plan()
        plans.append(plan)
        if plan is not None:
            policy.record(plan, embedding if plan.runs_language_model else None)
    return plans


def test_no_instruction_no_work():
    policy = InstructionPolicy("sticky", 3)
    assert policy.plan() is None and not policy.has_work


def test_sticky_reuses_the_prompt_and_reasons_every_n_frames():
    policy = InstructionPolicy("sticky", reason_every_n=3)
    policy.set_instruction("cut the bread")
    plans = run_frames(policy, 7)
    assert [plan.runs_language_model for plan in plans] == [True, False, False, True, False, False, True]
    assert all(plan.instruction == "cut the bread" for plan in plans)
    assert plans[1] == InferencePlan("cut the bread", "emb")
    assert policy.has_work


@pytest.mark.parametrize("every_n, expected", [(1, [True] * 4), (0, [True, False, False, False])])
def test_sticky_every_frame_or_only_on_change(every_n, expected):
    policy = InstructionPolicy("sticky", reason_every_n=every_n)
    policy.set_instruction("pour water")
    assert [plan.runs_language_model for plan in run_frames(policy, 4)] == expected


def test_sticky_new_instruction_reasons_again_and_ignores_a_stale_embedding():
    policy = InstructionPolicy("sticky", reason_every_n=0)
    policy.set_instruction("old")
    old_plan = policy.plan()
    policy.set_instruction("new")
    policy.record(old_plan, "old embedding")  # the old run finished after the change
    plan = policy.plan()
    assert plan == InferencePlan("new")
    policy.record(plan, "new embedding")
    assert policy.plan() == InferencePlan("new", "new embedding")


def test_sticky_reasons_again_while_no_part_is_found():
    policy = InstructionPolicy("sticky", reason_every_n=0)
    policy.set_instruction("open the door")
    plans = run_frames(policy, 3, embedding=None)
    assert [plan.runs_language_model for plan in plans] == [True, True, True]


def test_once_gives_one_plan_per_instruction():
    policy = InstructionPolicy("once", reason_every_n=3)
    policy.set_instruction("cut the bread")
    assert policy.has_work
    assert run_frames(policy, 3) == [InferencePlan("cut the bread"), None, None]
    assert not policy.has_work
    policy.set_instruction("cut the bread")  # sent again: answered again
    assert run_frames(policy, 2) == [InferencePlan("cut the bread"), None]


@pytest.mark.parametrize(
    "args, message",
    [
        (("always", 3), "instruction mode 'always' is not supported: use one of ('sticky', 'once')"),
        (("sticky", -1), "reason_every_n must be >= 0 frames (0 = reason only when the instruction changes), got -1"),
    ],
)
def test_bad_settings(args, message):
    with pytest.raises(ValueError) as error:
        InstructionPolicy(*args)
    assert str(error.value) == message
