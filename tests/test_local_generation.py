"""``generate-data --local``: what the filter keeps of the packaged LM's replies, and why it drops the rest."""

import pytest

from cgcap.classifier.local_generation import SENSES, VISUAL_EXAMPLE, first_sentence, rejection
from cgcap.cli import main

SMELL_EXAMPLE = SENSES["smell"][0]


def test_only_the_first_sentence_of_the_first_line_is_kept_without_markers_or_quotes():
    assert first_sentence('1. "a brown horse grazes by a fence." It looks calm. And then\nmore') == \
        "A brown horse grazes by a fence."
    assert first_sentence("\n\n- A blue boat in the harbour!\nsecond line") == "A blue boat in the harbour!"
    assert first_sentence("   \n") == ""


@pytest.mark.parametrize(("sentence", "label", "example", "reason"), [
    ("A brown horse grazes beside a white fence.", 1, VISUAL_EXAMPLE, None),
    ("The smell of wet soil after the rain.", 0, SMELL_EXAMPLE, None),
    ("The bitter taste of cold coffee at dawn.", 0, SMELL_EXAMPLE, None),  # asked for a smell: any sense will do
    ("", 1, VISUAL_EXAMPLE, "empty"),
    ("A red bus.", 1, VISUAL_EXAMPLE, "length"),
    ("A tall tree " + "and a tree " * 8 + "stand there.", 1, VISUAL_EXAMPLE, "length"),
    ("In 2018 a man stood on a hill.", 1, VISUAL_EXAMPLE, "not_plain"),
    ("A glorbish snurfle sits on the frabjous mat.", 1, VISUAL_EXAMPLE, "unknown_word"),
    ("Here's a sentence about a quiet harbour.", 1, VISUAL_EXAMPLE, "meta"),
    ("The picture shows a cat on a sofa.", 1, VISUAL_EXAMPLE, "meta"),
    ("I love the smell of bread in the morning.", 0, SMELL_EXAMPLE, "meta"),
    ("A red kite hangs above the green hill.", 1, VISUAL_EXAMPLE, "near_copy"),
    ("The sour smell of milk left out far too long.", 0, SMELL_EXAMPLE, "near_copy"),
    ("A yellow kite flies over the hill at noon.", 1, VISUAL_EXAMPLE, "near_copy"),  # two of its words
    ("A cat is a cat is a cat.", 1, VISUAL_EXAMPLE, "repetitive"),
    ("A yellow tent smells of smoke by the lake.", 1, VISUAL_EXAMPLE, "off_topic"),  # a sight may not name a sense
    ("A tall lighthouse stands on the rocky coast.", 0, SMELL_EXAMPLE, "off_topic"),  # a non-sight must name one
])
def test_the_filter_names_the_first_rule_a_reply_breaks(sentence, label, example, reason):
    assert rejection(sentence, label, example) == reason


def test_local_writing_refuses_a_recipe_it_has_no_prompts_for(tmp_path, capsys):
    status = main(["classifier", "generate-data", "--local", "smollm2-135m", "--recipe", "audibility",
                   "--positives", str(tmp_path / "p.txt"), "--negatives", str(tmp_path / "n.txt")])
    assert status == 2
    assert "--local writes the visual recipe; 'audibility' needs an endpoint" in capsys.readouterr().err
    assert not (tmp_path / "p.txt").exists()


def test_an_out_of_range_sampling_seed_is_refused_before_any_model_loads(tmp_path, capsys):
    status = main(["classifier", "generate-data", "--local", "smollm2-135m", "--recipe", "visual", "--seed", "-1",
                   "--positives", str(tmp_path / "p.txt"), "--negatives", str(tmp_path / "n.txt")])
    assert status == 2
    assert "seed: Input should be greater than or equal to 0" in capsys.readouterr().err
