"""Presets of the second model zoo (MAST, Spa-then-Temp, DUL, SFC), as data: each is an existing
preset with the settings its method's official script changes, and where it comes from.

:mod:`vosbench.propagation.protocol` builds them into ``PRESETS`` and ``PRESET_INFO``; this module
imports nothing of vosbench, so the protocol module can import it.
"""

from __future__ import annotations

from typing import Any

#: name -> (the preset it derives from, the settings that differ)
ZOO_PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    # MAST's benchmark.py: frames 0 and 5 plus t-1, t-3, t-5; a 25x25 window on every reference; one softmax
    # over the raw dot products of all references' windows (zero-padded borders included); labels [::4, ::4].
    "mast": (
        "corrflow",
        {
            "resize": "native",
            "size": 0,
            "context": 3,
            "first_frame": True,
            "radius": 12.0,
            "radius_on_first": True,
            "label_downsample": "subsample",
            "references": "mast",
            "border": "zeros",
        },
    ),
    # Spa-then-Temp's tracker is VFS's with a square neighbourhood (|dx|, |dy| <= neighbor_range // 2).
    "spa-then-temp": ("vfs", {"window": "square"}),
    "spa-then-temp-d4": ("vfs", {"window": "square", "radius": 35.0}),
    # DUL's infer_vos.py is CRW's propagation with every bilinear resize at align_corners=True.
    "dul": ("crw", {"align_corners": True}),
    # SFC's test_vos.py is CRW's test.py; its README's fused command: --topk 15 --radius 15 --temperature 0.1.
    "sfc": ("crw", {"topk": 15, "radius": 15.0, "temperature": 0.1}),
}

#: name -> (reference: the official script restated, verified: how closely it was checked)
ZOO_PRESET_INFO: dict[str, tuple[str, str]] = {
    "mast": (
        "zlai0/MAST @a57b043 benchmark.py (default --ref 0: mem_gap 2, references frames 0 and 5 plus "
        "i, i-2, i-4 > 0 when predicting frame i+1) + models/mast.py (R 12 at test time) + models/colorizer.py "
        "(correlation over a 25x25 window, softmax over all references jointly, labels image[:, :, ::4, ::4] "
        "one-hot) + functional/feeder/dataset/DavisLoaderLab.py (native size, float Lab)",
        "the near-reference path of colorizer.py restated naively (zero-padded 25x25 correlation, "
        "F.unfold of the one-hot labels, one softmax over all references, bilinear up, arg-max fed back) on "
        "small inputs: identical predictions (tests/test_models_mast.py), on the windowed and the batched "
        "path. Not reproduced: the long-range search for a reference more than 15 frames back (frame 0 from "
        "target 16, frame 5 from target 21): colorizer.py finds a soft-arg-max offset with a dilated 25x25 "
        "correlation (dilation 2 to 4) and samples a 25x25 window around it with grid_sample; vosbench keeps "
        "the 25x25 window at the target's own position for those references too. Not run against MAST's "
        "script (the spatial_correlation_sampler CUDA extension)",
    ),
    "spa-then-temp": (
        "qianduoduolr/Spa-then-Temp @4c94362 configs/test/res18_d8.py test_cfg_davis (precede_frames 20, "
        "topk 10, temperature 0.07, neighbor_range 24, mode 'square', with_first, with_first_neighbor) + "
        "vcl/models/trackers/vanilla_tracker.py forward_test + vcl/models/common/affinity_utils.py spatial_neighbor "
        "+ local_attention.py masked_attention_efficient; res50_d8.py has the same test_cfg_davis",
        "the loop is VFS's (as the vfs preset) with the square mask |dy|, |dx| <= 12 on every key frame; "
        "restated on small inputs (tests/test_models_spa_then_temp.py). Not reproduced: Resize(scale=(-1, 480)) "
        "(the identity on DAVIS 480p frames). Not run against the repository's script (mmcv-full)",
    ),
    "spa-then-temp-d4": (
        "qianduoduolr/Spa-then-Temp @4c94362 configs/test/res18_d4.py / res50_d4.py test_cfg_davis: as "
        "spa-then-temp but neighbor_range 70 (|dy|, |dx| <= 35 cells at stride 4)",
        "as spa-then-temp (the same loop; only the radius differs)",
    ),
    "dul": (
        "visinf/dense-ulearn-vos @88e5e35 infer_vos.py (step_seg, scale_as / add_result) + "
        "labelprop/common.py LabelPropVOS_CRW + labelprop/crw.py (MaskedAttention, mem_efficient_batched_affinity) "
        "+ core/config.py TEST defaults (KNN 10, CXT_SIZE 20, RADIUS 12, TEMP 0.05, INPUT_SIZE -1, KEY res4)",
        "the loop restated on small inputs (tests/test_models_dul.py): frame 0 unrestricted plus the 20 "
        "previous frames padded with frame 0, circle dist < 12 on the short-term frames, joint top-10, softmax at "
        "T 0.05, soft feedback, one-hot labels bilinearly down-sampled and soft labels up-sampled with "
        "align_corners=True: identical predictions. Not reproduced: the merging of one context per frame where "
        "new objects appear (YouTube-VOS); DAVIS annotates every object in frame 0, where it is one context. "
        "Not run against DUL's script (CUDA only)",
    ),
    "sfc": (
        "Alxead/SFC @c4e349a code/test_vos.py (CRW's test.py with late fusion) + code/utils/test_utils.py; "
        "README command --topk 15 --videoLen 20 --radius 15 --temperature 0.1 --cropSize -1 --lambd 1.75",
        "test_vos.py's propagation is CRW's (the crw preset's verification applies) with other numbers; the "
        "fusion restated in tests/test_models_sfc.py (features of the sfc model, L2-normalised by the engine, equal "
        "test_vos.py's normalize(cat(lambd * fc, semantic)); their dot products equal (lambd^2 A_fc + A_sem) / "
        "(1 + lambd^2)). Not run against SFC's script",
    ),
}
