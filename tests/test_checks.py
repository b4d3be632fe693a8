"""The checks on a model's own questions and answers, on examples the bundled model wrote for the demo
and curation once accepted (no numbers, so no number check could reject them)."""

from __future__ import annotations

import pytest

from synthtune.synth.checks import question_problem, support_problem

PASSAGE = (
    "Acme Robotics, Inc. (Nasdaq: ACMR) builds autonomous mobile robots and Conductor, the fleet software "
    "that runs them. The company is headquartered in Austin, Texas. Acme Robotics is a fictional company."
)


@pytest.mark.parametrize(
    "question",
    [
        "What is the current status of Acme Robotics?",
        "What is the purpose of the Acme Robotics Inc. Investor Relations?",
        'What is the meaning behind the sentence "Acme Robotics, Inc. (ACMR) Q2 Fiscal 2025 Earnings Call"?',
        "What is Acme Robotics, Inc. (Nasdaq: ACMR) reporting on a fiscal 2025?",
        "What is the Acme Robotics third quarter fiscal 2025 earnings call?",
        "What is Acme Robotics, Inc. (Nasdaq: ACMR) and what does Acme Robotics, Inc. (Nasdaq: ACMR) do?",
        "What's the next question?",
        "What is Acme Robotics, Inc. Earnings?",
        "What's the latest news regarding Acme Robotics?",
        "What did Acme Robotics recently announce?",
    ],
)
def test_questions_about_the_document_or_said_twice_are_vague(question: str) -> None:
    assert question_problem(question) == "vague_question"


@pytest.mark.parametrize(
    "question",
    [
        "Where is Acme Robotics headquartered?",
        "What software runs Acme Robotics' robots?",
        "What did Acme Robotics announce on its third quarter fiscal 2025 earnings call about Strider X2?",
        "What were Acme Robotics' earnings in the third quarter of fiscal 2025?",
        "What were Acme Robotics' Q3 FY2025 earnings?",
        "What did Acme Robotics recently announce in its third quarter fiscal 2025 results?",
    ],
)
def test_questions_about_the_subject_pass(question: str) -> None:
    assert question_problem(question) is None


def test_an_answer_that_says_a_clause_twice_is_rejected() -> None:
    q = "Where is Acme Robotics headquartered?"
    a = "Acme Robotics is headquartered in Austin, Texas and is headquartered in Austin, Texas."
    assert support_problem(q, a, "factual", [PASSAGE]) == "repeats_itself"
    a = "Acme Robotics is a fictional company that is a fictional company created by the synthtune project."
    assert support_problem("What is Acme Robotics?", a, "factual", [PASSAGE]) == "repeats_itself"


def test_an_invented_answer_is_unsupported_and_a_grounded_one_passes() -> None:
    q = "What is Acme Robotics' plan for growth?"
    invented = (
        "Acme Robotics is in a period of rapid growth and expansion, with a strong focus on the "
        "development of a new line of drones for hospitals."
    )
    assert support_problem(q, invented, "factual", [PASSAGE]) == "unsupported"
    grounded = (
        "Acme Robotics builds autonomous mobile robots and the Conductor fleet software that runs them."
    )
    assert support_problem("What does Acme Robotics build?", grounded, "factual", [PASSAGE]) is None
    # words of the question are not counted: restating them is the states_answer check's business
    assert support_problem("Where is Acme headquartered?", "In Austin, Texas.", "factual", [PASSAGE]) is None


def test_template_answers_and_refusals_are_not_checked_for_support() -> None:
    assert support_problem("q?", "Something the passages never say at all.", "fact", [PASSAGE]) is None
    assert support_problem("q?", "The documents do not say.", "unanswerable", [PASSAGE]) is None


def test_an_answer_that_copies_the_question_restates_it() -> None:
    from synthtune.synth.checks import answer_problem

    q = "What is Acme Robotics, Inc. Earnings?"
    a = "Daniel Okafor, Vice President of Investor Relations,\n\nQuestion: What is Acme Robotics, Inc. Earnings?"
    assert answer_problem(q, a, "factual") == "restates_question"
    ok = "Acme Robotics builds autonomous mobile robots and the Conductor fleet software."
    assert answer_problem("What does Acme Robotics build?", ok, "factual") is None
