"""What goes over Redis: a batch of events per message, read back exactly."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from onetask.events.outbox import CommittedEvent
from onetask.realtime.broker import pack_batch, unpack_batch

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@given(
    st.lists(
        st.tuples(texts, st.integers(min_value=1, max_value=2**31 - 1), texts, st.booleans()),
        min_size=1,
        max_size=20,
    )
)
def test_a_batch_reads_back_exactly_whatever_the_titles_hold(
    rows: list[tuple[str, int, str, bool]],
) -> None:
    # Frames are JSON, which escapes the separators; channel names are ours (no controls).
    events = [
        CommittedEvent(
            f"workspace:{abs(hash(name)) % 1000}:tasks",
            seq,
            orjson.dumps({"type": "task_update", "data": {"title": title}}).decode(),
            final,
        )
        for name, seq, title, final in rows
    ]
    assert unpack_batch(pack_batch(events)) == events
