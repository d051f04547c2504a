"""The pool-size study of chapter 9 (:mod:`sitsbench.evaluation.pool_size`) on a tiny cube."""

from sitsbench.data.synthetic import generate_cube
from sitsbench.evaluation.pool_size import PoolStudyConfig, pool_size_study
from sitsbench.inference.encoder_folder import EncoderFolder


def test_random_encoder_of_a_fixed_length_model_is_built_like_the_pretrained_one(tmp_path):
    """The official L-TAE normalises over a fixed number of dates (24 by default): the pretrained encoders are
    built for the cube's 20 dates, and the random-initialisation reference must be too (it was built with the
    default and failed on its first batch)."""
    cube = generate_cube("toy", seed=0, with_s1=False)
    config = PoolStudyConfig(pool_sizes=(32, 256), steps=2, batch_size=16, encoder="ltae", fractions=(1.0,),
                             seeds=(0,), max_train=200, max_test=200, window=8, n_boot=20, device="cpu")
    study = pool_size_study(cube, tmp_path, config)
    folder = EncoderFolder.load(tmp_path / "encoder_256_seed0")
    assert folder.name == "ltae" and folder.kwargs["seq_len"] == cube.sizes["time"]
    gains = study["gains"]
    assert sorted(gains["pool"]) == study["pools"] == [32, 256]
    assert ((gains["low"] <= gains["difference"]) & (gains["difference"] <= gains["high"])).all()
