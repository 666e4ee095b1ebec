"""Packaging for Beam's remote workers (--setup_file) and editable installs.

The pinned environment is requirements.txt; this only makes lsm, data_prep
and configs importable on Dataflow/Flink/Spark workers.
"""

import setuptools

setuptools.setup(
    name='lsm',
    version='0.1.0',
    description='latent-space music: JAX/Flax latent-variable models of symbolic music',
    packages=setuptools.find_packages(include=['lsm', 'lsm.*', 'data_prep', 'data_prep.*',
                                               'configs']),
    # The default corpus's music21 tunes as MIDI (data_prep/write_music21_tunes.py) and the
    # studio's page travel with the code, so workers skip the slow ABC parsing.
    package_data={'data_prep.sources': ['music21_folk_tunes.zip'],
                  'lsm.studio': ['static/*', 'static/vendor/*']},
    python_requires='>=3.11',
    install_requires=['apache-beam', 'pretty_midi', 'mido', 'music21', 'numpy',
                      'tensorflow-cpu', 'ml_collections', 'absl-py'],
)
