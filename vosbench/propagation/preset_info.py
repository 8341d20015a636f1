"""Where each propagation preset comes from and how closely it was checked.

:data:`PRESET_INFO` maps a preset name of :data:`vosbench.propagation.protocol.PRESETS` to its
:class:`PresetInfo`: the official script it restates (``reference``) and what was compared
(``verified``). Kept apart from the settings themselves so that either table can grow.
"""

from __future__ import annotations

from dataclasses import dataclass

from vosbench.propagation.zoo_presets import ZOO_PRESET_INFO

@dataclass(frozen=True)
class PresetInfo:
    """Where a preset comes from and how closely it was checked.

    Attributes:
        reference: The official script it restates (repository, commit, files, command).
        verified: What was compared, on what data, with what agreement.
    """

    reference: str
    verified: str


PRESET_INFO: dict[str, PresetInfo] = {
    "fgvc-badja": PresetInfo(
        reference="qianduoduolr/FGVC @2b6bcf0 configs/eval/res18_d1_eval.py test_cfg_badja (precede_frames 5, "
        "topk 10, temperature 0.07, neighbor_range 30, with_first, with_first_neighbor) + configs/eval/base_data.py "
        "test_badja (size (320, 512)) + mmpt/models/trackers/vanilla_tracker.py; PCK: mmpt/datasets/"
        "badja_dataset.py pck_evaluate (vosbench.scoring.pck_badja)",
        verified="PCK restated step by step on hand-made joints and segmentations to 1e-12 (tests/test_badja.py); "
        "the propagation settings are VFS's tracker with FGVC's values. Not restated: FGVC's label maps "
        "(Gaussian sigma 3 px at half resolution) and top-5 read-out (vosbench: centred maps, sigma 0.5 cells, "
        "top-3); no FGVC checkpoint was run here",
    ),
    "crw": PresetInfo(
        reference="ajabri/videowalk @047f3f4 code/test.py (+ code/data/vos.py, code/utils/test_utils.py), "
        "README DAVIS command: --topk 10 --videoLen 20 --radius 12 --temperature 0.05 --cropSize -1",
        verified="CRW's own test.py, real DAVIS frames, same deterministic random-init weights: 99.99998 % "
        "identical predicted pixels (measured with CRW's script); the full-affinity restatement in benchmarks/propagation.py: "
        "100.000 % on the real DAVIS-2016 sample",
    ),
    "crw-jhmdb": PresetInfo(
        reference="ajabri/videowalk @047f3f4 code/test.py + code/data/jhmdb.py + code/utils/test_utils.py "
        "(process_pose) + code/eval/eval_pck.py; settings of videowalk issue #10: --topk 10 --videoLen 7 "
        "--radius 12 --temperature 0.05 --cropSize 320",
        verified="label maps, top-3 read-out, feat_res mapping back and PCK (visibility, normaliser) equal to "
        "1e-9 to a line-by-line restatement of CRW's code on hand-made keypoints and maps: rounded != exact "
        "cell, int() truncation at the border, off-frame and lost joints, frame 0, top-3 ties "
        "(tests/test_crw_jhmdb.py); propagation as crw. Issue 17 found CRW's scripts with exactly these "
        "two steps swapped for vosbench v1's reproduce v1's keypoints to 0.0007 px; v2 was not re-run "
        "against CRW's scripts here",
    ),
    "crw-jhmdb-centred": PresetInfo(
        reference="none: vosbench's sub-cell encoding / cell-centre decoding on CRW's JHMDB propagation "
        "(was crw-jhmdb v1); not comparable with published JHMDB rows",
        verified="GT maps read back exactly (synthetic-jhmdb GT round trip PCK@0.05 100.0, crw-jhmdb 96.8); "
        "vs crw-jhmdb on synthetic-jhmdb (benchmarks/jhmdb_readout.py): resnet18 random init PCK@0.1/0.2 "
        "+2.3/+1.5 points, lab +3.0/+7.6",
    ),
    "dino": PresetInfo(
        reference="facebookresearch/dino @7c446df eval_video_segmentation.py, defaults (--n_last_frames 7 "
        "--size_mask_neighborhood 12 --topk 5 --patch_size 16)",
        verified="a step-by-step restatement of the script (tests/test_dino_protocol.py; cv2 for read_frame, "
        "PIL for the label and output resizes), random-init 2-block ViT/16, first 10 frames of the 6 real "
        "DAVIS-2016 sample sequences: 100.00000 % identical pixels (v1: 99.89012 %); OpenCV's uint8 "
        "resize restated bit-exactly (tests/test_resize_uint8.py, cv2 4.5.5 to 5.0). Issue 17 ran the unmodified "
        "script against v1: 99.995 %",
    ),
    "corrflow": PresetInfo(
        reference="zlai0/CorrFlow @f6bd381 test.py + models/colorizer.py + functional/feeder/dataset/"
        "DavisLoader.py (benchmark.py for the written PNGs)",
        verified="not run against CorrFlow's test.py (its correlation is the spatial_correlation_sampler "
        "CUDA extension); encoder equal to a functional restatement of CorrFlow's network "
        "(tests/test_models_corrflow.py); window, softmax, label and feedback rules restated in "
        "tests/test_propagate.py. Not reproduced: test.py's frame-averaged metric and benchmark.py's 3-px "
        "shift (README protocol table)",
    ),
}

PRESET_INFO.update(
    {
        "vfs": PresetInfo(
            reference="xvjiarui/VFS @8e055cc configs/r18_nc_sgd_cos_100e_r2_1xNx8_k400.py test_cfg (precede_frames 20, "
            "topk 10, temperature 0.07, strides (1,2,1,1), out_indices (2,), neighbor_range 24, with_first, "
            "with_first_neighbor) + mmaction/models/trackers/vanilla_tracker.py forward_test + "
            "mmaction/models/common/local_attention.py masked_attention_efficient; the r50 config differs only in "
            "neighbor_range (preset vfs-r50)",
            verified="the distinctive steps restated on small inputs (tests/test_models_vfs.py): keys frame 0 plus "
            "frames max(0, t-20)..t-1 (frame 0 twice while t <= 20), the circle mask dist < 12 on every key "
            "frame, joint top-10 softmax at T 0.07, PIL-nearest first-frame labels, min-max before the arg-max. "
            "Not reproduced: the script's Resize(scale=(-1, 480), keep_ratio) of the frames, the identity on "
            "DAVIS 480p frames (vosbench keeps the native size for any input). Not run against VFS's script "
            "(mmcv-full)",
        ),
    }
)
PRESET_INFO["uvc"] = PresetInfo(
    reference="Liusifei/UVC @4336938 test.py (README command -s 480; defaults --pre_num 7 --temp 1 --topk 5) + "
    "libs/test_utils.py read_frame / read_seg / transform_topk + libs/model.py Model_switchGTfixdot_swCC_Res",
    verified="the distinctive steps restated on small inputs (tests/test_models_uvc.py): per context frame a "
    "softmax of raw dot products over all its cells, weights below the k-th largest zeroed without "
    "renormalising, the mean over frame 0 and the 7 previous frames, soft feedback, x8 bilinear up, min-max, "
    "arg-max. Frames: short side 480, long side floored to x64, the 8-bit frame resized (cv2) before the "
    "Lab conversion. Not run against UVC's script (PyTorch 1.1, scipy.misc.imresize)",
)
PRESET_INFO["vfs-r50"] = PresetInfo(
    reference="xvjiarui/VFS @8e055cc configs/r50_nc_sgd_cos_100e_r5_1xNx2_k400.py test_cfg: as vfs but "
    "neighbor_range 36 (radius 18 cells)",
    verified="as vfs (the same loop; only the radius differs)",
)

PRESET_INFO["cropmae"] = PresetInfo(
    reference="alexandre-eymael/CropMAE @5d0dab2 downstreams/propagation/start.py (DAVIS defaults: temperature "
    "0.7, topk 7, radius 20, video_len 20, crop_size [480, 880], long_mem [0], L2 on, norm_mask off) + src/test.py "
    "+ src/data/vos.py + src/utils/test_utils.py (CRW's test.py restated) + src/eval/convert_davis.py; scored by "
    "davis2017-evaluation on --davis_path datasets/davis-2017/DAVIS_480_880, i.e. against 480x880 ground truth",
    verified="the distinctive steps restated on small inputs (tests/test_preset_resized_gt.py): frames, input "
    "labels and GT resized to 480x880 (vos.py: OpenCV bilinear frame, INTER_NEAREST label), J&F against the "
    "resized GT equal to scoring hand-resized masks, CRW's context/radius/top-k rules at the CropMAE values. "
    "Not determined: how the authors' DAVIS_480_880 copy was made (not in the repository; with an already "
    "resized copy vos.py resizes nothing); vosbench resizes the 8-bit frame (OpenCV's integer rule) where "
    "vos.py resizes the frame divided by 255 in float (at most 0.5/255 apart). Not run against CropMAE's script",
)
PRESET_INFO["rsp"] = PresetInfo(
    reference="huiwon-jang/RSP @5ea2b91 data_preprocessing/eval/davis_preprocessing.py (frames and annotations "
    "PIL NEAREST to 880x480) + eval_video_segmentation_davis.py (DINO's script; README: --topk 7 "
    "--size_mask_neighborhood 30 --n_last_frames 30, temperature 0.1) + davis2017-evaluation on DAVIS_480_880",
    verified="as dino (the same script, its defaults changed; the 480x880 frame becomes 480x832 by the short-side "
    "rule); the PIL-nearest resize of frames and GT and the scoring against the resized GT restated in "
    "tests/test_preset_resized_gt.py. Not reproduced: the JPEG re-encoding of the resized frames. Not run "
    "against RSP's script",
)
PRESET_INFO["dinov3"] = PresetInfo(
    reference="facebookresearch/dinov3 @6876159 notebooks/segmentation_tracking.ipynb (ResizeToMultiple short side "
    "960 up to x16, PIL bicubic; first mask nearest-exact to the grid; propagate(): cosine, circle norm <= 12 on "
    "every context frame, top-5, softmax at T 0.2; first frame + 7 most recent; nearest up-sampling to the mask "
    "size, per-channel min-max, arg-max)",
    verified="the distinctive steps restated on small inputs (tests/test_preset_dinov3.py): the resize size rule "
    "and PIL bicubic frame, the one-step nearest-exact first mask, the <= 12 circle as radius 12.01, legacy-nearest "
    "up-sampling with min-max and arg-max: identical predictions to the restated notebook loop on an 11-frame "
    "video. Differs: the notebook keeps every candidate tied with the 5th (exact ties only). The notebook runs one demo video (no DAVIS score); not run against it "
    "here (DINOv3 weights are gated)",
)
PRESET_INFO["crw-vip"] = PresetInfo(
    reference="ajabri/videowalk @047f3f4 code/test.py (+ code/data/vos.py, code/utils/test_utils.py dump_predictions) "
    "with the VIP settings quoted in videowalk issue #10 (--topk 10 --videoLen 4 --radius 12 --temperature 0.05 "
    "--cropSize 560), scored by code/eval/eval_vip.py (the 560x560 prediction resized with PIL NEAREST to the "
    "ground truth's size: upscale pil-nearest)",
    verified="propagation as crw (560x560 squares, first frame + 4 previous, padded with frame 0); the scoring "
    "equal to eval_vip.py restated per pixel (tests/test_vip_scoring.py). Not restated: vos.py resizes the "
    "label image to 560x560 with cv2's default bilinear rule (its INTER_NEAREST lands in the dst slot) before "
    "the one-hot, so on VIP's greyscale ids a boundary pixel whose interpolated value is another class present "
    "in frame 0 takes that class; vosbench one-hots the original map. Not run against CRW's script",
)
PRESET_INFO["uvc-vip"] = PresetInfo(
    reference="Liusifei/UVC @4336938 test_mask_vip.py, README VIP command (--scale_size 560 560 --pre_num 1; "
    "defaults --topk 5 --temp 1) + eval_vip.py (ATEN's script)",
    verified="as uvc (tests/test_models_uvc.py) with 560x560 frames and one previous frame "
    "(tests/test_vip_run.py checks the resolved settings); read_seg's one-step nearest resize to the "
    "(560/8)x(560/8) grid is label_downsample pil-nearest; the output's nearest resize to the original "
    "size is upscale pil-nearest. Not run against UVC's script (PyTorch 1.1, scipy.misc.imresize)",
)

PRESET_INFO.update({k: PresetInfo(*v) for k, v in ZOO_PRESET_INFO.items()})

PRESET_INFO["nn"] = PresetInfo(
    reference="gorkaydemir/fomo_point_tracking @a5f4561 zero_shot.py (query feature matched to every frame's "
    "feature map, arg-max, every point visible); vosbench refines the arg-max by a softmax (T = temperature) "
    "over its 3x3 cells and maps cell centres back to pixels",
    verified="a true-correspondence encoder scores AJ = 1 on synthetic-tapvid with occlusion_threshold set "
    "(tests/test_tapvid_run.py); not run against fomo_point_tracking's script",
)
PRESET_INFO["propagate"] = PresetInfo(
    reference="qianduoduolr/FGVC (TAP-Vid-DAVIS by propagating query heatmaps) and vosbench's JHMDB keypoint "
    "propagation (crw-jhmdb-centred's Gaussian maps, top-3 soft-argmax); context 7, top-10, radius 12, T 0.05; "
    "occlusion where the propagated peak < 0.1 (vosbench's choice, not tuned)",
    verified="the k-NN engine as crw; maps and read-out as crw-jhmdb-centred (tests/test_tapvid_run.py); "
    "not run against FGVC's script",
)

PRESET_INFO["timecycle"] = PresetInfo(
    reference="xiaolonw/TimeCycle @16d33ac test_davis.py with run_test.sh's arguments (--cropSize 320 --topk_vis 5; "
    "videoLen 8) + models/dataset/davis_test.py (frames /255 squashed to 320x320 by OpenCV's bilinear rule, labels "
    "scipy imresize nearest) + models/videos/model_test.py (per-frame softmax of cos / 512**-0.5) + "
    "preprocess/convert_davis.py (OpenCV INTER_NEAREST to the frame size)",
    verified="the script's loop restated with naive loops (tests/test_preset_timecycle.py): colour counting with "
    "its off-by-one (a colour's first pixel is not counted; > 10 kept, so objects of 11 pixels or fewer at "
    "320x320 are dropped), one-hot maps by OpenCV bilinear to the grid, 8 copies of frame 0 in front of the "
    "video, frame 0 predicted and its min-max-normalised prediction used as a previous frame, per-frame top-5, "
    "mean of 8 frames, grid min-max fed back, bilinear up, arg-max, INTER_NEAREST: identical id maps on a 9-frame "
    "video at cropSize 64 on both propagation paths. Differs: the script divides 0 by 0 for a channel that is "
    "constant on the grid (NaN, which then wins every arg-max); vosbench keeps 0; label maps go to 320x320 by torch "
    "nearest-exact, not PIL nearest (different pixels only at float rounding ties); exact top-5 ties and exact "
    "arg-max ties between objects (channels ordered by id, not by first appearance). Not run "
    "against TimeCycle's script (PyTorch 0.4, scipy.misc)",
)
PRESET_INFO["cropmae-jhmdb"] = PresetInfo(
    reference="alexandre-eymael/CropMAE @5d0dab2 downstreams/propagation/util.py (--jhmdb_temperature 0.7, "
    "--jhmdb_topk 7, --jhmdb_radius 20, --jhmdb_video_len 20, --jhmdb_crop_size [320, 320], --jhmdb_feat_res "
    "[20, 20]) + src/test.py + src/data/jhmdb.py + src/utils/test_utils.py (process_pose, topk=5) + "
    "src/eval/eval_pck.py",
    verified="CropMAE's jhmdb.py, test.py and eval_pck.py differ from CRW's (videowalk @047f3f4) only in argument "
    "names, the file-list column order, feat_res as a pair (the ViT-S/16 grid at 320x320 is 20x20; vosbench maps "
    "back with the grid it has) and process_pose's default top-5; the top-5 read-out restated on hand-made maps "
    "with ties and an empty channel to 1e-9 (tests/test_preset_cropmae_jhmdb.py); the rest as crw-jhmdb. Not run "
    "against CropMAE's script",
)
