"""triage/codeblocks.py: the one code-block extractor of every report source."""

from triage.codeblocks import extract_code_blocks


def test_fenced_blocks_keep_their_language_and_python_is_flagged():
    text = "Intro\n\n```python\nimport torch\nx = 1\n```\n\n~~~bash\npip install torch\n~~~\n\n```py\nprint(2)\n```\n"
    blocks = extract_code_blocks(text)
    assert [(b.language, b.is_python) for b in blocks] == [("python", True), ("bash", False), ("py", True)]
    assert blocks[0].code == "import torch\nx = 1"
    assert [b.position for b in blocks] == [0, 1, 2]


def test_indented_block_after_a_blank_line_is_code_and_python_is_detected_by_parsing():
    text = "I can reproduce it:\n\n    import numpy as np\n    print(np.zeros(3))\n\nThanks"
    (block,) = extract_code_blocks(text)
    assert block.language == ""
    assert block.code == "import numpy as np\nprint(np.zeros(3))"
    assert block.is_python


def test_unlabelled_non_python_is_not_python_and_prose_in_a_list_is_not_code():
    text = "```\nTraceback (most recent call last):\nValueError: bad shape\n```\n- item\n    continued item text"
    blocks = extract_code_blocks(text)
    assert len(blocks) == 1
    assert not blocks[0].is_python


def test_unclosed_fence_runs_to_the_end_and_longer_fences_nest_shorter_ones():
    blocks = extract_code_blocks("````python\n```\ninside\n```\n````\n\n```python\nimport os")
    assert blocks[0].code == "```\ninside\n```"
    assert blocks[1].code == "import os"
