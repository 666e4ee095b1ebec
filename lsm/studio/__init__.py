"""lsm studio: one web page to play, steer and compare trained models of all four papers.

python -m lsm.studio --workdir=W [--workdir=W2 ...]; see README "Studio". Layout:
controls.py (each control on a TrainedModel), store.py (inputs and outputs in memory),
studio.py (models, inputs, outputs as JSON records), app.py (HTTP routes), static/ (the
page; vendored html-midi-player, Magenta.js core and Tone.js, see static/vendor/README).
"""
