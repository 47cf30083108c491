"""One transport for A/B listening: the original, the song with the new part, or the part alone, at
one playhead; the part's level; a loop over a bar range; the piano roll with numbered bars and a
moving playhead.

The page holds it as a ``gr.HTML`` whose value is :func:`transport_html` and whose ``js_on_load`` is
:data:`TRANSPORT_JS` (events are delegated to the component's element, so a new take's HTML needs no
new listeners). Two ``<audio>`` elements play the original and the part together, kept within 40 ms
of each other; the modes mute one of them, the level slider sets the part's volume.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from .plotting import ROLL_AXES

LEVEL_MIN_DB = -30


def file_url(path: str | Path) -> str:
    """The URL the page serves a result file at (it lies under an allowed folder)."""
    return "/gradio_api/file=" + html.escape(str(path), quote=True)


def empty_html() -> str:
    return '<div class="tp tp-empty"><p>Your result appears here: listen, compare and download.</p></div>'


def transport_html(*, original: str | Path, stem_audio: str | Path, roll: str | Path | None, roll_alt: str,
                   stem: str, bar_times: list[float], duration_s: float, take: int) -> str:
    """The transport for one take (paths: files under the page's allowed folders)."""
    left, _, width, _ = ROLL_AXES
    bars = json.dumps([round(float(t), 3) for t in bar_times])
    last_bar = max(1, len(bar_times))
    picture = (
        f'<div class="tp-roll"><div class="tp-canvas" title="Click to move the playhead"><img src="{file_url(roll)}" '
        f'alt="{html.escape(roll_alt, quote=True)}"><div class="tp-head" aria-hidden="true" '
        f'style="left: {100 * left:g}%"></div></div></div>'
        if roll else ""
    )
    part = html.escape(stem)
    return f"""<div class="tp" data-bars="{html.escape(bars, quote=True)}" data-duration="{duration_s:.3f}"
 data-x0="{left}" data-w="{width}" data-take="{take}" role="group" aria-label="Player for take {take}">
{picture}
<div class="tp-row">
 <button type="button" class="tp-play" aria-label="Play or pause">▶ Play</button>
 <button type="button" class="tp-stop" aria-label="Stop and go back">■ Stop</button>
 <span class="tp-time">Bar 1 · 0:00</span>
</div>
<fieldset class="tp-row tp-modes"><legend>Listen to</legend>
 <label><input type="radio" name="tp-mode" value="original"> Original</label>
 <label><input type="radio" name="tp-mode" value="mix" checked> Song with the new {part}</label>
 <label><input type="radio" name="tp-mode" value="part"> The {part} alone</label>
</fieldset>
<div class="tp-row">
 <label>{part.capitalize()} level <input class="tp-level" type="range" min="{LEVEL_MIN_DB}" max="0" step="1"
  value="0"></label> <output class="tp-level-out">0 dB</output>
</div>
<div class="tp-row">
 <label><input type="checkbox" class="tp-loop"> Loop bars</label>
 <input class="tp-from" type="number" min="1" max="{last_bar}" value="1" aria-label="Loop from bar">
 <span>to</span>
 <input class="tp-to" type="number" min="1" max="{last_bar}" value="{min(4, last_bar)}" aria-label="Loop to bar">
</div>
<audio class="tp-orig" preload="auto" src="{file_url(original)}"></audio>
<audio class="tp-stem" preload="auto" src="{file_url(stem_audio)}"></audio>
</div>"""


# Runs once per page load with ``element`` (the component's root).
TRANSPORT_JS = r"""
const q = (s) => element.querySelector(s);
let frame = null;
const box = () => q('.tp');
const players = () => [q('audio.tp-orig'), q('audio.tp-stem')];
const bars = () => { const b = box(); return b && b.dataset.bars ? JSON.parse(b.dataset.bars) : []; };
const mode = () => { const m = q('input[name=tp-mode]:checked'); return m ? m.value : 'mix'; };
function barAt(t) { const b = bars(); let i = 0; while (i + 1 < b.length && b[i + 1] <= t) i++; return b.length ? i + 1 : 1; }
function clock(t) { const m = Math.floor(t / 60), s = Math.floor(t % 60); return m + ':' + String(s).padStart(2, '0'); }
function apply() {
  const [o, s] = players(); if (!o || !s) return;
  const db = Number(q('.tp-level').value);
  o.muted = mode() === 'part'; s.muted = mode() === 'original';
  s.volume = Math.min(1, Math.pow(10, db / 20));
  const label = db + ' dB'; if (q('.tp-level-out').textContent !== label) q('.tp-level-out').textContent = label;
  if (box().dataset.mode !== mode()) box().dataset.mode = mode();
}
function loopRange() {
  if (!q('.tp-loop') || !q('.tp-loop').checked) return null;
  const b = bars(), from = Number(q('.tp-from').value), to = Number(q('.tp-to').value);
  if (!(from >= 1 && to >= from && from <= b.length)) return null;
  return [b[from - 1], to < b.length ? b[to] : Number(box().dataset.duration)];
}
function draw(t) {
  const b = box(), head = q('.tp-head');
  if (head) head.style.left = (100 * (Number(b.dataset.x0) + Number(b.dataset.w) * t / Number(b.dataset.duration))) + '%';
  q('.tp-time').textContent = 'Bar ' + barAt(t) + ' · ' + clock(t);
}
function tick() {
  const [o, s] = players(); if (!o || !s) { frame = null; return; }
  const loop = loopRange();
  if (loop && (o.currentTime >= loop[1] || o.currentTime < loop[0] - 0.25)) { o.currentTime = loop[0]; s.currentTime = loop[0]; }
  if (Math.abs(s.currentTime - o.currentTime) > 0.04) s.currentTime = o.currentTime;
  draw(o.currentTime);
  frame = o.paused ? null : requestAnimationFrame(tick);
}
function seek(t) { const [o, s] = players(); if (!o) return; o.currentTime = t; s.currentTime = t; draw(t); }
element.addEventListener('click', (ev) => {
  const button = ev.target.closest('button');
  const [o, s] = players(); if (!o || !s) return;
  if (!button) {
    const roll = ev.target.closest('.tp-canvas'); if (!roll) return;
    const r = roll.getBoundingClientRect(), b = box();
    const x = ((ev.clientX - r.left) / r.width - Number(b.dataset.x0)) / Number(b.dataset.w);
    seek(Math.max(0, Math.min(1, x)) * Number(b.dataset.duration)); return;
  }
  if (button.classList.contains('tp-play')) {
    apply();
    if (o.paused) {
      const loop = loopRange(); if (loop && (o.currentTime < loop[0] || o.currentTime >= loop[1])) seek(loop[0]);
      s.currentTime = o.currentTime;
      Promise.all([o.play(), s.play()]).catch((e) => { box().dataset.error = String(e); });
      button.textContent = '❚❚ Pause'; if (!frame) frame = requestAnimationFrame(tick);
    } else { o.pause(); s.pause(); button.textContent = '▶ Play'; }
  } else if (button.classList.contains('tp-stop')) {
    o.pause(); s.pause(); q('.tp-play').textContent = '▶ Play';
    const loop = loopRange(); seek(loop ? loop[0] : 0);
  }
});
element.addEventListener('input', apply);
element.addEventListener('change', apply);
// A new take's markup: its players follow the controls as they stand; the play button resets at the end.
new MutationObserver(() => apply()).observe(element, {childList: true, subtree: true, characterData: true, attributes: true});
element.addEventListener('ended', () => { const p = q('.tp-play'); if (p) p.textContent = '▶ Play'; }, true);
"""
