"""Raw model output -> questions and answers (synthtune.synth.parsing), on recorded and realistic replies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synthtune.synth.parsing import (
    REASONS,
    Rejection,
    is_placeholder,
    normalise_question,
    parse_answer,
    parse_questions,
)
from synthtune.text.clean import strip_think
from synthtune.text.refusals import is_refusal

CHUNK = (
    "Revenue was $142.7 million, up 23.9% from a year ago and up 7.9% from the first quarter. We expanded "
    "gross margin for the fifth consecutive quarter, to 41.9%, and we delivered operating income of $5.9 "
    "million. In June we signed a contract with Northwind Grocers for 1,200 Strider robots, to be deployed "
    "across 18 of their distribution centers. It is the largest order in Acme's history by a wide margin; our "
    "previous record was a little over 300 robots."
)
PROMPT = (
    "Write 3 questions about the text below, one per line. Each question must be answerable from the text.\n\n"
    f"Text:\n{CHUNK}"
)
JSON_PROMPT = (
    'Write 3 questions about the text. Reply in JSON like {"questions": ["Question 1?", "Question 2?", '
    f'"Question 3?"]}}\n\nText:\n{CHUNK}'
)

Q_REVENUE = "What was Acme's revenue in the second quarter?"
Q_ORDER = "How many Strider robots did Northwind Grocers order?"
Q_MARGIN = "What gross margin did Acme report for the quarter?"


def reasons(rejections: list[Rejection]) -> list[tuple[str, str]]:
    return [(r.text, r.reason) for r in rejections]


def parse(raw: str, prompt: str | None = PROMPT) -> tuple[list[str], list[tuple[str, str]]]:
    kept, rejected = parse_questions(raw, CHUNK, prompt)
    return kept, reasons(rejected)


# --------------------------------------------------------------------------------------------------
# layouts: preambles, numbering, bullets, labels, quotes


@pytest.mark.parametrize(
    "raw",
    [
        f"{Q_REVENUE}\n{Q_ORDER}\n{Q_MARGIN}",
        f"Here are three questions about the passage:\n\n1. {Q_REVENUE}\n2. {Q_ORDER}\n3. {Q_MARGIN}",
        f"Sure! Here are 3 questions based on the text:\n1) {Q_REVENUE}\n2) {Q_ORDER}\n3) {Q_MARGIN}\n\n"
        "I hope these questions help!",
        f"- {Q_REVENUE}\n- {Q_ORDER}\n* {Q_MARGIN}",
        f"Q1: {Q_REVENUE}\nQ2: {Q_ORDER}\nQ3: {Q_MARGIN}",
        f"**Question 1:** {Q_REVENUE}\n**Question 2:** {Q_ORDER}\n**Question 3:** {Q_MARGIN}",
        f"**Question:**\n{Q_REVENUE}\n\n**Question:**\n{Q_ORDER}\n\n**Question:**\n{Q_MARGIN}",
        f"1. \"{Q_REVENUE}\"\n2. \u201c{Q_ORDER}\u201d\n3. '{Q_MARGIN}'",
        f"### Questions\n\n1. **{Q_REVENUE}**\n2. **{Q_ORDER}**\n3. **{Q_MARGIN}**",
        f"{Q_REVENUE} {Q_ORDER} {Q_MARGIN}",  # three on one line
        f"Question: {Q_REVENUE}\nAnswer: $142.7 million\n\nQuestion: {Q_ORDER}\nAnswer: 1,200\n\n"
        f"Question: {Q_MARGIN}\nAnswer: 41.9%",
    ],
)
def test_layouts_give_the_same_three_questions(raw):
    assert parse(raw) == ([Q_REVENUE, Q_ORDER, Q_MARGIN], [])


def test_an_interrogative_line_without_question_mark_gets_one():
    assert parse("1. What was Acme's revenue in the second quarter")[0] == [Q_REVENUE]


def test_preamble_on_the_same_line():
    assert parse(f"Sure! Here is a question about the text: {Q_ORDER}") == ([Q_ORDER], [])
    assert parse(f"The first question: {Q_ORDER}") == ([Q_ORDER], [])


def test_only_a_preamble_is_not_a_question():
    assert parse("Here are three questions about the passage:") == (
        [],
        [("Here are three questions about the passage:", "not_a_question")],
    )


# --------------------------------------------------------------------------------------------------
# JSON


@pytest.mark.parametrize(
    "raw",
    [
        f'["{Q_REVENUE}", "{Q_ORDER}", "{Q_MARGIN}"]',
        f'{{"questions": ["{Q_REVENUE}", "{Q_ORDER}", "{Q_MARGIN}"]}}',
        f'[{{"question": "{Q_REVENUE}"}}, {{"question": "{Q_ORDER}"}}, {{"question": "{Q_MARGIN}"}}]',
        f'```json\n{{"questions": ["{Q_REVENUE}", "{Q_ORDER}", "{Q_MARGIN}"]}}\n```',
        f'Here is the JSON:\n```\n["{Q_REVENUE}", "{Q_ORDER}", "{Q_MARGIN}"]\n```\nLet me know if you need more.',
        f'Here you go:\n{{"questions": ["{Q_REVENUE}", "{Q_ORDER}", "{Q_MARGIN}"]}}\nThese cover the text.',
        # question/answer objects: only the questions are taken
        f'[{{"question": "{Q_REVENUE}", "answer": "$142.7 million."}}, {{"question": "{Q_ORDER}", '
        f'"answer": "1,200."}}, {{"question": "{Q_MARGIN}", "answer": "41.9%."}}]',
    ],
)
def test_json_replies(raw):
    assert parse(raw) == ([Q_REVENUE, Q_ORDER, Q_MARGIN], [])


@pytest.mark.parametrize(
    "raw",
    [
        # cut off by max_new_tokens inside the third string
        f'{{"questions": ["{Q_REVENUE}", "{Q_ORDER}", "What gross margin did Acme rep',
        # a missing comma and a trailing comma
        f'["{Q_REVENUE}" "{Q_ORDER}",]',
        # objects, cut off inside the second answer
        f'[{{"question": "{Q_REVENUE}", "answer": "$142.7 million"}}, {{"question": "{Q_ORDER}", "answer": "1,2',
        # single quotes are not JSON, but the lines still read as questions
        f"['{Q_REVENUE}',\n'{Q_ORDER}']",
    ],
)
def test_broken_json_recovers_the_complete_items(raw):
    assert parse(raw)[0] == [Q_REVENUE, Q_ORDER]


def test_json_with_nothing_recoverable_is_empty():
    assert parse('{"questions": ["What was Acme')[1] == [("", "empty")]


def test_echoed_json_example_is_placeholders():
    raw = '{"questions": ["Question 1?", "Question 2?", "Question 3?"]}'
    assert parse(raw, JSON_PROMPT) == (
        [],
        [("Question 1?", "placeholder"), ("Question 2?", "placeholder"), ("Question 3?", "placeholder")],
    )


# --------------------------------------------------------------------------------------------------
# think blocks


def test_think_blocks_are_removed():
    raw = (
        "<think>\nThe text is about Acme's Q2. I should ask about revenue, the order, margin. "
        "What was revenue? Let me write them.\n</think>\n\n"
        f"1. {Q_REVENUE}\n2. {Q_ORDER}\n3. {Q_MARGIN}"
    )
    assert parse(raw) == ([Q_REVENUE, Q_ORDER, Q_MARGIN], [])


def test_an_unclosed_think_means_no_answer_yet():
    raw = "<think>\nOkay, the user wants questions. What was revenue? Maybe I should ask about"
    assert parse(raw) == ([], [("", "empty")])
    assert parse_answer(raw) == ""


def test_a_closing_think_without_opening_ends_the_reasoning():
    raw = f"The user wants three questions. What was revenue?\n</think>\n\n{Q_ORDER}"
    assert parse(raw) == ([Q_ORDER], [])
    assert strip_think(raw) == Q_ORDER


# --------------------------------------------------------------------------------------------------
# rejections


def test_echoed_placeholders_from_a_small_model():
    raw = "Question 1?\nAnswer 1.\nQuestion 2?\nAnswer 2."
    assert parse(raw) == (
        [],
        [
            ("Question 1?", "placeholder"),
            ("Answer 1.", "placeholder"),
            ("Question 2?", "placeholder"),
            ("Answer 2.", "placeholder"),
        ],
    )


@pytest.mark.parametrize(
    "text",
    [
        "Question 1?",
        "Q2?",
        "What is X?",
        "[question]",
        "<question>",
        "{question}",
        "Your question here",
        "...",
        "?",
        "What is the answer to this question?",
        "What is the question?",
    ],
)
def test_placeholders(text):
    assert is_placeholder(text)
    assert parse(text)[1] == [(text, "placeholder")]


def test_real_questions_are_not_placeholders():
    for q in (Q_REVENUE, Q_ORDER, "What is Conductor?", "Which question did the analyst ask first?"):
        assert not is_placeholder(q)


def test_echoes_of_the_instructions():
    raw = "Write 3 questions about the text below, one per line.\nEach question must be answerable from the text."
    assert parse(raw) == (
        [],
        [
            ("Write 3 questions about the text below, one per line.", "echoes_prompt"),
            ("Each question must be answerable from the text.", "echoes_prompt"),
        ],
    )
    # without the prompt the same lines are merely not questions
    assert [r for _, r in parse(raw, None)[1]] == ["not_a_question", "not_a_question"]


@pytest.mark.parametrize(
    "text",
    [
        "What is the revenue of the revenue of the revenue?",
        "What was the the the revenue in the quarter?",
        "How many robots robots robots did Northwind order?",
        "What did Acme say about Strider robots and Strider robots and Strider robots?",
    ],
)
def test_repetition_loops(text):
    assert parse(text)[1] == [(text, "repetition")]


def test_copies_of_the_chunk():
    copy = (
        "In June we signed a contract with Northwind Grocers for 1,200 Strider robots, to be deployed across 18 "
        "of their distribution centers?"
    )
    short_copy = "It is the largest order in Acme's history?"
    assert parse(f"{copy}\n{short_copy}")[1] == [(copy, "copies_chunk"), (short_copy, "copies_chunk")]


@pytest.mark.parametrize(
    "text",
    [
        "According to the passage, what was Acme's revenue in the second quarter?",
        "What was revenue in the quarter described in this passage?",
        "Based on the given text, how many robots did Northwind order?",
        "What does the text above say about gross margin?",
        "What order is mentioned in the document?",
        "What does the author say about Northwind Grocers?",
        "In the context provided, what was the operating income?",
    ],
)
def test_questions_that_refer_to_the_passage(text):
    assert parse(text)[1] == [(text, "refers_to_passage")]


def test_length_bounds_and_not_questions():
    long = "What " + " ".join(["was"] * 0) + " ".join(f"word{i}" for i in range(61)) + "?"
    assert parse("Revenue?\nWhat was it?")[1] == [("Revenue?", "too_short"), ("What was it?", "too_short")]
    assert parse(long)[1] == [(long, "too_long")]
    assert parse("Acme signed a record order with Northwind Grocers.")[1] == [
        ("Acme signed a record order with Northwind Grocers.", "not_a_question")
    ]
    assert parse("Describe the Northwind order.")[1] == [("Describe the Northwind order.", "not_a_question")]


def test_duplicates_within_one_reply():
    raw = f"1. {Q_ORDER}\n2. {Q_ORDER.lower()}\n3. {Q_ORDER.rstrip('?')}!?"
    kept, rejected = parse(raw)
    assert kept == [Q_ORDER]
    assert [r for _, r in rejected] == ["duplicate", "duplicate"]


def test_questions_addressed_to_the_reader():
    for text in ("What would you like me to write?", "How does this order affect your business operations?"):
        assert parse(text)[1] == [(text, "addresses_reader")]


def test_off_topic_questions():
    text = "How can an online community help people find jobs abroad?"
    assert parse(text)[1] == [(text, "off_topic")]
    assert parse_questions(text, "", None) == ([text], [])  # without a chunk there is nothing to compare


def test_empty_replies():
    for raw in ("", "   \n", "<think>hmm</think>"):
        assert parse(raw) == ([], [("", "empty")])


def test_every_reason_is_a_known_stable_string():
    assert REASONS == (
        "empty",
        "placeholder",
        "echoes_prompt",
        "repetition",
        "copies_chunk",
        "not_a_question",
        "too_short",
        "too_long",
        "refers_to_passage",
        "addresses_reader",
        "off_topic",
        "duplicate",
    )


# --------------------------------------------------------------------------------------------------
# Recorded from SmolLM2-135M-Instruct (the bundled model; transformers, greedy, max_new_tokens 90) on
# 170-word chunks of examples/acme/docs/acme_q2_fy2025_earnings_call.md and ..._q3_..._call.txt. Prompt
# styles named in the comments (one user message, no system prompt unless named):
#   plain3        "Write 3 questions about the text below, one per line.\n\nText:\n{chunk}"
#   plain3_short  "Write 3 short questions that can be answered from this text. One question per line.\n\n{chunk}"
#   plain5        plain3 with 5 questions
#   plain1        "Write one question that this text answers.\n\n{chunk}"
#   plain1_after  "{chunk}\n\nWrite one question that the text above answers. Reply with the question only."
#   json_example  'Write 3 questions about the text. Reply in JSON like {"questions": ["Question 1?", ...]}' + chunk
#   sys_plain3    system "You write quiz questions about business documents. Reply with questions only, one
#                 per line.", user: the chunk

RECORDED_CHUNKS = [
    "First, the order. In June we signed a contract with Northwind Grocers for 1,200 Strider robots, to be deployed across 18 of their distribution centers. It is the largest order in Acme's history by a wide margin; our previous record was a little over 300 robots. Northwind started with a 40-robot pilot in a single building in 2023. They measured everything: picks per labor hour, travel distance, injuries, and the time it took to train a new associate. When the pilot building moved from their bottom quartile to their top quartile on productivity, they asked us to plan a network rollout. Deliveries begin in the fourth quarter at their distribution center in Columbus, Ohio, and continue through 2026. Every one of those robots will run on Conductor, and the software and support contract runs for five years.",
    "Third, manufacturing. Our plant in Round Rock, Texas can build about 4,500 robots a year, and with the Northwind order and the rest of our backlog we can see the point where Round Rock is not enough. So we have decided to build a second factory, in Reno, Nevada. The site is 240,000 square feet, we broke ground in July, and we expect to start production in the second half of 2026. When it is fully ramped, Reno will add capacity for about 6,000 robots a year, and it puts us a day's drive from many of our West Coast customers. Kenji will talk about the investment in a moment.",
    "Elena Petrova: Thanks, James. The biggest change is that we now sell the network, not the building. Customers like Bluewater or Northwind make decisions at the network level, so we built a team that does network-wide business cases with the customer's finance and operations leaders together. Bluewater had been adding sites one at a time since 2022. With the multi-site features in Conductor 5.0, we were able to show them the productivity of their best building applied across their network, and that is what turned 12 sites into 40.",
]
RECORDED = {
    # prompt style 'plain3', repetition_penalty 1.0
    "numbered": (
        0,
        "1. What is the order?\n2. What is the size of the order?\n3. What is the current record?\n4. How did the order start?\n5. What is the plan for the rollout?\n6. What is the software and support contract?\n7. What is the plan for the rollout?",
    ),
    # prompt style 'json_example', repetition_penalty 1.0
    "json_echo": (
        0,
        '{"questions":["Question 1?", "Question 2?", "Question 3?", "Question 4?", "Question 5?", "Question 6?", "Question 7?", "Question 8?", "Question 9?", "Question 10?", "Question 11?", "Question 12?", "Question 13?", "Question 14?", "Question 15?", "Question 16?",',
    ),
    # prompt style 'json_example', repetition_penalty 1.0
    "labelled_loop": (
        1,
        "Question 1: What's the plan?\nQuestion 2: What's the plan?\nQuestion 3: What's the plan?\n\nQuestion 1: What's the plan?\nQuestion 2: What's the plan?\nQuestion 3: What's the plan?\n\nQuestion 1: What's the plan?\nQuestion 2: What's the plan?\nQuestion 3: What's the plan",
    ),
    # prompt style 'plain1_after', repetition_penalty 1.0
    "question_loop": (
        2,
        'What is the answer to the question "What is the answer to the question "What is the answer to the question "What is the answer to the question "What is the answer to the question "What is the answer to the question "What is the answer to the question "What is the answer to the question "What is the answer to the question "What is the answer to the question "What is the answer to the question "What is',
    ),
    # prompt style 'plain3', repetition_penalty 1.3
    "chatty": (
        1,
        "1) What makes you think that your company has invested too much into a new facility?\n\n2) How does this project impact your business model or operations within the industry? \n\n3) Are there any plans on how they plan to expand their product offerings further down-stream (to other parts)? \n  \n [Your answer]",
    ),
    # prompt style 'plain3', repetition_penalty 1.3
    "edit_preamble": (
        0,
        'Here’s an edited version of your original paragraph that addresses grammar errors (e.g., missing articles), punctuation misuse ("no apostrophe" should "o\'penny"), spelling mistakes (“acm” instead of “am”), incorrect verb tenses consistency throughout sentences using correct verbs like "rollover," etc.:\n\n Sentence A - First question: What orders? Second answer: The order has been ordered since July 5th so far.',
    ),
    # prompt style 'json_example', repetition_penalty 1.3
    "broken_json": (
        2,
        '{"Questions":"How can I create an online community where people from different countries meet?","Answers":"The answer for this question would be [Bluffton]."}" }\n\n7) What do you think about the new technology being used on the internet today...[TechGear]"\n\n\n896 Responses To This Question\n\n  1. How could Elena Petravevskaya help her company improve its products\n  2',
    ),
    # prompt style 'plain1', repetition_penalty 1.0
    "exclaims": (
        1,
        "What a great question! Let's dive into the details.\n\nThe answer to your question is:\n\n\"What a fantastic opportunity to create a new business, one that can make a difference in the world?\"\n\nThis is a great example of how a company can make a positive impact by investing in a new business. The story of Kenji's visit to Reno is a testament to the power of storytelling and the impact that can",
    ),
    # prompt style 'sys_plain3', repetition_penalty 1.0
    "copies": (
        2,
        "Elena Petrova: Thanks, James. The biggest change is that we now sell the network, not the building. Customers like Bluewater or Northwind make decisions at the network level, so we built a team that does network-wide business cases with the customer's finance and operations leaders together. Bluewater had been adding sites one at a time since 2022. With the multi-site features in Conductor 5",
    ),
    # prompt style 'json_example', repetition_penalty 1.0
    "json_prompt_lines": (
        2,
        "Question: How does a company like Conductor 5.0 manage its multi-site features?\n\nQuestion: What is the purpose of Conductor 5.0?\n\nQuestion: How does Conductor 5.0 manage its multi-site features?\n\nQuestion: What is the purpose of Conductor 5.0?\n\nQuestion: How does Conductor 5.0 manage its multi-site features?",
    ),
    # prompt style 'plain1_after', repetition_penalty 1.3
    "asks_back": (
        1,
        "What would you like me to write? What questions do I need help answering or exploring further on this topic? Please go ahead!",
    ),
    # prompt style 'plain3_short', repetition_penalty 1.0
    "qa_pairs": (
        0,
        "1. First question: What is the order?\nThe order is a large contract of 1,200 Strider robots, designed to be deployed across 18 of Northwind's distribution centers.\n\n2. Second question: What is the size of the order?\nThe order is a large contract of 1,200 Strider robots, designed to be deployed across 18 of Northwind's distribution centers.",
    ),
    # prompt style 'plain5', repetition_penalty 1.0
    "list_loop_cut_off": (
        0,
        "1. What is the order?\n2. What is the largest order?\n3. How did the order start?\n4. What is the plan to train the new associate?\n5. What is the plan to deliver robots?\n6. What is the plan to deliver robots?\n7. What is the plan to deliver robots?\n8. What is the plan to deliver robots?\n9. What is the plan to",
    ),
    # prompt style 'plain3_short', repetition_penalty 1.0
    "preamble_list": (
        1,
        "Here are three questions that can be answered from the given text:\n\n1. What is the purpose of the third factory in Reno, Nevada?\n2. What is the current production capacity of the second factory in Reno, Nevada?\n3. What is the current production capacity of the third factory in Reno, Nevada?",
    ),
}


RECORDED_EXPECTED = {
    "qa_pairs": (
        ["What is the order?", "What is the size of the order?"],
        ["not_a_question", "not_a_question"],  # the answers the model wrote under each question
    ),
    "list_loop_cut_off": (
        [
            "What is the order?",
            "What is the largest order?",
            "How did the order start?",
            "What is the plan to train the new associate?",
            "What is the plan to deliver robots?",
        ],
        [
            ("What is the plan to deliver robots?", "duplicate"),
            ("What is the plan to deliver robots?", "duplicate"),
            ("What is the plan to deliver robots?", "duplicate"),
            ("What is the plan to", "not_a_question"),  # cut off by max_new_tokens
        ],
    ),
    "preamble_list": (
        [
            "What is the purpose of the third factory in Reno, Nevada?",
            "What is the current production capacity of the second factory in Reno, Nevada?",
            "What is the current production capacity of the third factory in Reno, Nevada?",
        ],
        [],
    ),
    "numbered": (
        [
            "What is the order?",
            "What is the size of the order?",
            "What is the current record?",
            "How did the order start?",
            "What is the plan for the rollout?",
            "What is the software and support contract?",
        ],
        [("What is the plan for the rollout?", "duplicate")],
    ),
    "json_echo": ([], [(f"Question {i}?", "placeholder") for i in range(1, 17)]),
    "labelled_loop": ([], [("What's the plan?", "too_short")] * 8 + [("What's the plan", "too_short")]),
    "question_loop": ([], ["repetition"]),
    "chatty": (
        [],
        [
            (
                "What makes you think that your company has invested too much into a new facility?",
                "addresses_reader",
            ),
            (
                "How does this project impact your business model or operations within the industry?",
                "addresses_reader",
            ),
            (
                "Are there any plans on how they plan to expand their product offerings further down-stream "
                "(to other parts)?",
                "off_topic",
            ),
            ("[Your answer]", "placeholder"),
        ],
    ),
    "edit_preamble": (
        [],
        [
            ("What orders?", "too_short"),
            ("Second answer: The order has been ordered since July 5th so far.", "not_a_question"),
        ],
    ),
    "broken_json": (
        [],
        [
            (
                "How can I create an online community where people from different countries meet?",
                "addresses_reader",
            )
        ],
    ),
    "exclaims": (
        [],
        [
            ("What a great question! Let's dive into the details.", "not_a_question"),
            (
                "What a fantastic opportunity to create a new business, one that can make a difference in the world?",
                "off_topic",
            ),
            (
                "This is a great example of how a company can make a positive impact by investing in a new "
                "business. The story of Kenji's visit to Reno is a testament to the power of storytelling and the "
                "impact that can",
                "not_a_question",
            ),
        ],
    ),
    "copies": ([], ["copies_chunk"]),
    "json_prompt_lines": (
        [
            "How does a company like Conductor 5.0 manage its multi-site features?",
            "What is the purpose of Conductor 5.0?",
            "How does Conductor 5.0 manage its multi-site features?",
        ],
        [
            ("What is the purpose of Conductor 5.0?", "duplicate"),
            ("How does Conductor 5.0 manage its multi-site features?", "duplicate"),
        ],
    ),
    "asks_back": (
        [],
        [
            ("What would you like me to write?", "addresses_reader"),
            (
                "What questions do I need help answering or exploring further on this topic?",
                "addresses_reader",
            ),
            ("Please go ahead!", "not_a_question"),
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_recorded_replies_of_the_bundled_model(name):
    chunk_no, raw = RECORDED[name]
    kept, rejected = parse_questions(raw, RECORDED_CHUNKS[chunk_no], None)
    want_kept, want_rejected = RECORDED_EXPECTED[name]
    assert kept == want_kept
    got = [(r.text, r.reason) for r in rejected]
    if want_rejected and isinstance(want_rejected[0], str):  # long texts: compare the reasons only
        got = [reason for _, reason in got]
    assert got == want_rejected


# --------------------------------------------------------------------------------------------------
# answers


@pytest.mark.parametrize(
    ("raw", "answer"),
    [
        ("Revenue was $142.7 million.", "Revenue was $142.7 million."),
        ("Answer: Revenue was $142.7 million.", "Revenue was $142.7 million."),
        ("**Answer:** Revenue was $142.7 million.", "Revenue was $142.7 million."),
        ('"Revenue was $142.7 million."', "Revenue was $142.7 million."),
        (
            "<think>Look for revenue. It says 142.7.</think>\nRevenue was $142.7 million.",
            "Revenue was $142.7 million.",
        ),
        ('{"answer": "Revenue was $142.7 million."}', "Revenue was $142.7 million."),
        ("$142.7 million", "$142.7 million"),
        # cut off by max_new_tokens: back to the last complete sentence
        (
            "Revenue was $142.7 million. It grew 23.9% from a year ago, driven by",
            "Revenue was $142.7 million.",
        ),
        # an abbreviation is not a sentence end
        (
            "Acme Robotics, Inc. reported revenue of $142.7 million. The",
            "Acme Robotics, Inc. reported revenue of $142.7 million.",
        ),
        # loops are cut where the repetition starts
        (
            "Northwind ordered 1,200 robots. Northwind ordered 1,200 robots. Northwind ordered 1,200 robots.",
            "Northwind ordered 1,200 robots.",
        ),
        (
            "The order is the largest order in the history of the history of the history of the history of",
            "The order is the largest order in the history of",
        ),
    ],
)
def test_parse_answer(raw, answer):
    assert parse_answer(raw) == answer


def test_parse_answer_keeps_a_complete_reply_without_final_stop_when_told():
    raw = "Revenue was $142.7 million. Growth: 23.9%"
    assert parse_answer(raw, truncated=False) == raw
    assert parse_answer(raw, truncated=True) == "Revenue was $142.7 million."


# --------------------------------------------------------------------------------------------------
# refusals


@pytest.mark.parametrize(
    "text",
    [
        "The documents do not say.",
        "The provided context does not mention the CEO's favourite colour.",
        "The documents provided don't specify this.",
        "Not mentioned.",
        "This information is not mentioned in the context.",
        "It is not stated in the text.",
        "I don't know.",
        "I do not have enough information to answer that.",
        "I'm sorry, but I cannot find that in the documents.",
        "The answer cannot be determined from the provided context.",
        "This cannot be determined from the provided documents.",
        "There is no information about the CEO's favourite colour in the context.",
        "The information is not provided in the context.",
        "Not provided in the context.",
        "It is not possible to tell from the passage.",
        "THE CONTEXT DOES NOT CONTAIN THIS INFORMATION.",
        "Unfortunately, the text doesn\u2019t provide details on that.",
        "There is insufficient information to answer.",
        "N/A",
        "The passages do not contain the answer.",
        "Based on the provided passages, there is no mention of the CEO's favourite colour.",
        "I could not find any information about that in the documents.",
        "Sorry, that's not in the documents.",
    ],
)
def test_refusals(text):
    assert is_refusal(text)


@pytest.mark.parametrize(
    "text",
    [
        "Revenue did not decline; it rose 5% to $142.7 million.",
        "Acme did not provide guidance for 2026 in the release; it narrowed its 2025 outlook.",
        "The company does not have any debt covenants that restrict buybacks.",
        "Strider robots cannot find pallets without the Conductor map, so the map is updated nightly.",
        "Battery wear is not covered by the standard warranty after three years.",
        "Not all customers renewed: 92% did.",
        "Operating income was $5.9 million, and no customer accounted for more than 10% of revenue.",
        "The Strider X2 is not available until early 2026.",
        "Acme is not in the S&P 500.",
        "The robots were not part of the pilot.",
        "",
    ],
)
def test_normal_answers_are_not_refusals(text):
    assert not is_refusal(text)


# --------------------------------------------------------------------------------------------------
# normalisation


def test_normalise_question():
    assert normalise_question("  What WAS  Acme's revenue?? ") == "what was acme's revenue"
    assert normalise_question("What was $5.1 billion, really?") == "what was 5.1 billion really"
    assert normalise_question("What was 5.1?") != normalise_question("What was 51?")
    assert normalise_question("\u201cWhat\u2019s new?\u201d") == normalise_question('"What\'s new?"')


@given(st.text(max_size=300))
def test_parsers_never_raise_and_return_known_reasons(raw):
    kept, rejected = parse_questions(raw, CHUNK, PROMPT)
    assert all(q.strip() and q.endswith("?") for q in kept)
    assert all(r.reason in REASONS for r in rejected)
    assert len(kept) + len(rejected) >= 1
    parse_answer(raw)
    is_refusal(raw)


@given(st.lists(st.sampled_from([Q_REVENUE, Q_ORDER, Q_MARGIN]), min_size=1, max_size=6))
def test_numbered_lists_keep_each_question_once(questions):
    raw = "\n".join(f"{i}. {q}" for i, q in enumerate(questions, 1))
    kept, rejected = parse(raw)
    assert kept == list(dict.fromkeys(questions))
    assert [r for _, r in rejected] == ["duplicate"] * (len(questions) - len(kept))


def test_sentences_around_a_question_are_split_off_but_not_at_abbreviations():
    assert parse(
        "Great news! How did revenue in Q2 compare with Q1 vs. last year for Acme Robotics, Inc. Robots?"
    )[0] == ["How did revenue in Q2 compare with Q1 vs. last year for Acme Robotics, Inc. Robots?"]
    kept, rejected = parse("Acme signed a record order. How many Strider robots did Northwind Grocers order?")
    assert kept == [Q_ORDER]
    assert [r for _, r in rejected] == ["not_a_question"]


# Answers recorded from SmolLM2-135M-Instruct: "Answer the question using only the context. If the context
# does not say, reply that it is not stated." + context + question, greedy.
def test_recorded_reply_to_a_one_question_prompt_with_the_chunk_first():
    # SmolLM2-135M-Instruct, greedy, repetition_penalty 1.0, prompt "{title}\n{chunk}\n\nWrite one question
    # that this text answers. Name the company or subject in the question. Reply with the question only."
    raw = "What is the answer to this question?\n\nA: Acme Robotics Q2 FY2025 Earnings Call"
    assert parse_questions(raw, RECORDED_CHUNKS[0], None) == (
        [],
        [Rejection("What is the answer to this question?", "placeholder")],
    )


RECORDED_ANSWERS = {
    # repetition_penalty 1.0
    "order": "Northwind Grocers ordered 1,200 Strider robots.",
    "factory": "The second factory will be built in Reno, Nevada.",
    "colour": "The CEO's favourite colour is not specified.",
    "centers": "The answer is: 2",
    # repetition_penalty 1.3: fluent nonsense, cut off by max_new_tokens
    "order_rp13": (
        "NorthWind Grosceau ordered 579 Robots! This includes all orders made within six months prior (June 20th) "
        "as well as any future plans or projects related to this company\u2019s business operations. The team has "
        "been working diligently towards achieving these goals since July first \u2013 which aligns perfectly "
        "with the current timeline set out under the \u201cGrowth & Innovation\u201d section where you can"
    ),
}


def test_recorded_answers():
    assert parse_answer(RECORDED_ANSWERS["order"]) == RECORDED_ANSWERS["order"]
    assert parse_answer(RECORDED_ANSWERS["centers"]) == "2"
    assert is_refusal(RECORDED_ANSWERS["colour"])
    assert not any(is_refusal(RECORDED_ANSWERS[k]) for k in ("order", "factory", "centers", "order_rp13"))
    cut = parse_answer(RECORDED_ANSWERS["order_rp13"], truncated=True)
    assert cut.endswith("related to this company's business operations.")
    assert cut.startswith("NorthWind Grosceau ordered 579 Robots! This includes")


def test_a_copy_of_the_chunk_inside_the_prompt_is_a_copy_not_an_echo():
    prompt = f"Acme Robotics Q2 call\n{CHUNK}\n\nWrite one question that this text answers."
    copy = "In June we signed a contract with Northwind Grocers for 1,200 Strider robots, to be deployed across 18?"
    assert parse(f"{copy}\nAcme Robotics Q2 call", prompt)[1] == [
        (copy, "copies_chunk"),
        ("Acme Robotics Q2 call", "echoes_prompt"),
    ]
