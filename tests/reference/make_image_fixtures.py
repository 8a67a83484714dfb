#!/usr/bin/python3
"""make_image_fixtures.py - reference outputs for graft's image decoding and CLIP preprocessing.

Written from the documented behaviour of PIL (Pillow 9.4, Debian 12's python3-pil) and of Hugging
Face's CLIPImageProcessor (transformers 4.40) and LLaVA-1.5's expand2square, not from graft's code.
PIL is the truth for decoding: what Image.open(f).convert("RGB") returns. The preprocessing is
restated here with PIL + numpy (transformers is not installed) and checked against the tensors
Hugging Face itself saved in ../shared/fixtures/hf/llava-tiny-b/ref when that folder exists.

Writes, under tests/fixtures/image/ (see tests/reference/README-image.md):
  decode/      small files in every supported format and variant, made here (PIL's writers and
               tiny hand-written JPEG/PNG/BMP/GIF/PNM encoders for what PIL cannot write), each with
               <file>.rgb.npy = PIL's decode (h, w, 3) uint8
  preprocess/  three synthetic images with the uint8 results of crop/pad/resize at several sizes
               and two normalised float32 tensors
  shared_images.json  per image of ../shared/images: PIL's decode and crop/pad-336 summaries
               (sha256, per-channel byte sums, an 8x8 subsample); no pixels of those files
Usage: /usr/bin/python3 tests/reference/make_image_fixtures.py [--shared ../shared] [--out DIR]
"""
import argparse
import hashlib
import io
import json
import os
import re
import struct
import sys
import warnings
import zlib

import numpy as np
from PIL import Image

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


# ---------------------------------------------------------------------------------------------
# The reference preprocessing (transformers 4.40 CLIPImageProcessor; LLaVA-1.5 expand2square)
# ---------------------------------------------------------------------------------------------

def load_rgb(path_or_bytes):
    """What LLaVA and HF's processors start from: Image.open(f).convert("RGB"). No EXIF rotation."""
    f = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    return Image.open(f).convert("RGB")


def shortest_edge_size(w, h, size):
    """get_resize_output_image_size(default_to_square=False): the short side becomes size and the
    long side int(size * long / short)."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)  # (w, h)


def center_crop(a, size):
    """image_transforms.center_crop for an image at least size x size: top = (h - size) // 2."""
    h, w = a.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    assert top >= 0 and left >= 0
    return a[top:top + size, left:left + size]


def crop_mode(img, size):
    """CLIPImageProcessor: resize shortest edge (PIL BICUBIC, reducing_gap None), center crop."""
    w, h = shortest_edge_size(img.width, img.height, size)
    r = img.resize((w, h), resample=Image.BICUBIC)
    return np.ascontiguousarray(center_crop(np.asarray(r), size))


def expand2square(img, background):
    """LLaVA-1.5 (llava/mm_utils.py)."""
    w, h = img.size
    if w == h:
        return img
    if w > h:
        out = Image.new(img.mode, (w, w), background)
        out.paste(img, (0, (w - h) // 2))
        return out
    out = Image.new(img.mode, (h, h), background)
    out.paste(img, ((h - w) // 2, 0))
    return out


def pad_color(mean):
    return tuple(int(x * 255) for x in mean)


def pad_mode(img, size, mean=OPENAI_MEAN):
    return crop_mode(expand2square(img, pad_color(mean)), size)


def resize_mode(img, size):
    return np.asarray(img.resize((size, size), resample=Image.BICUBIC))


def normalize(u8, mean=OPENAI_MEAN, std=OPENAI_STD):
    """rescale: float32(float64(x) * (1/255)); normalize: (x - mean) / std in float32, channels
    last; then to channels first."""
    x = (u8.astype(np.float64) * (1 / 255)).astype(np.float32)
    m = np.array(mean, dtype=np.float32)
    s = np.array(std, dtype=np.float32)
    return np.ascontiguousarray(((x - m) / s).transpose(2, 0, 1))


# ---------------------------------------------------------------------------------------------
# Tiny encoders for what PIL cannot write
# ---------------------------------------------------------------------------------------------

ZIGZAG = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34,
          27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37,
          44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63]


def _dct_matrix():
    c = np.zeros((8, 8))
    for k in range(8):
        for n in range(8):
            c[k, n] = (np.sqrt(1 / 8) if k == 0 else np.sqrt(2 / 8)) * np.cos((2 * n + 1) * k * np.pi / 16)
    return c


def jpeg_encode(planes, samp, ids, q=3, jfif=True, adobe=None, restart=0):
    """A baseline JPEG: one interleaved scan, every component at (h, v) sampling from samp, given
    full-resolution planes (uint8, equal sizes) that are box-downsampled here. Huffman tables are
    canonical codes of fixed length (DC: 12 symbols of 4 bits, AC: all 162 symbols of 8 bits), so
    no standard table needs to be typed in. Quantisation is q everywhere."""
    H, W = planes[0].shape
    hmax, vmax = max(s[0] for s in samp), max(s[1] for s in samp)
    mcux, mcuy = -(-W // (8 * hmax)), -(-H // (8 * vmax))
    C = _dct_matrix()
    comps = []
    for p, (h, v) in zip(planes, samp):
        fx, fy = hmax // h, vmax // v
        cw, ch = -(-W // fx), -(-H // fy)
        pw, ph = mcux * h * 8, mcuy * v * 8
        big = np.pad(p.astype(np.float64), ((0, ch * fy - H), (0, cw * fx - W)), mode="edge")
        small = big.reshape(ch, fy, cw, fx).mean(axis=(1, 3))
        small = np.pad(small, ((0, ph - ch), (0, pw - cw)), mode="edge")
        comps.append(np.round(small))
    dc_sym = list(range(12))
    ac_sym = [0x00, 0xF0] + [(r << 4) | s for r in range(16) for s in range(1, 11)]
    dc_code = {s: (i, 4) for i, s in enumerate(dc_sym)}
    ac_code = {s: (i, 8) for i, s in enumerate(ac_sym)}
    out = bytearray()
    bits = [0, 0]  # accumulator, count

    def put(code, n):
        for i in range(n - 1, -1, -1):
            bits[0] = (bits[0] << 1) | ((code >> i) & 1)
            bits[1] += 1
            if bits[1] == 8:
                out.append(bits[0])
                if bits[0] == 0xFF:
                    out.append(0)
                bits[0] = bits[1] = 0

    def flush():
        while bits[1]:
            put(1, 1)

    def cat(v):
        v = abs(int(v))
        return v.bit_length()

    def put_val(v, s):
        if s:
            put(int(v) if v >= 0 else int(v) + (1 << s) - 1, s)

    seg = bytearray(b"\xff\xd8")
    if jfif:
        seg += b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    if adobe is not None:
        seg += b"\xff\xee" + struct.pack(">H", 14) + b"Adobe\x00\x64\x00\x00\x00\x00" + bytes([adobe])
    seg += b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes([q] * 64)
    seg += b"\xff\xc0" + struct.pack(">HBHHB", 8 + 3 * len(planes), 8, H, W, len(planes))
    for i, (h, v) in zip(ids, samp):
        seg += bytes([i, (h << 4) | v, 0])
    seg += b"\xff\xc4" + struct.pack(">H", 2 + 17 + 12) + b"\x00" + bytes([0, 0, 0, 12] + [0] * 12) + bytes(dc_sym)
    seg += b"\xff\xc4" + struct.pack(">H", 2 + 17 + 162) + b"\x10" + bytes([0] * 7 + [162] + [0] * 8) + bytes(ac_sym)
    if restart:
        seg += b"\xff\xdd" + struct.pack(">HH", 4, restart)
    seg += b"\xff\xda" + struct.pack(">HB", 6 + 2 * len(planes), len(planes))
    for i in ids:
        seg += bytes([i, 0x00])
    seg += b"\x00\x3f\x00"
    pred = [0] * len(planes)
    n_mcu, rst = 0, 0
    for my in range(mcuy):
        for mx in range(mcux):
            if restart and n_mcu and n_mcu % restart == 0:
                flush()
                out += bytes([0xFF, 0xD0 + rst])
                rst = (rst + 1) % 8
                pred = [0] * len(planes)
            n_mcu += 1
            for k, (h, v) in enumerate(samp):
                for by in range(v):
                    for bx in range(h):
                        y0, x0 = (my * v + by) * 8, (mx * h + bx) * 8
                        blk = comps[k][y0:y0 + 8, x0:x0 + 8] - 128
                        co = np.round((C @ blk @ C.T) / q).astype(int).flatten()
                        zz = [co[z] for z in ZIGZAG]
                        d = zz[0] - pred[k]
                        pred[k] = zz[0]
                        s = cat(d)
                        put(*dc_code[s])
                        put_val(d, s)
                        run = 0
                        for a in zz[1:]:
                            if a == 0:
                                run += 1
                                continue
                            while run > 15:
                                put(*ac_code[0xF0])
                                run -= 16
                            s = cat(a)
                            put(*ac_code[(run << 4) | s])
                            put_val(a, s)
                            run = 0
                        if run:
                            put(*ac_code[0x00])
    flush()
    return bytes(seg + out + b"\xff\xd9")


def png_encode(a, color_type, depth, palette=None, trns=None):
    """A PNG with filter 0 rows; a is (h, w, channels) of integers at the given bit depth."""
    h, w = a.shape[:2]
    rows = []
    for y in range(h):
        v = a[y].reshape(-1).astype(np.uint32)
        if depth == 16:
            raw = v.astype(">u2").tobytes()
        elif depth == 8:
            raw = v.astype(np.uint8).tobytes()
        else:
            per = 8 // depth
            v = np.concatenate([v, np.zeros((-len(v)) % per, np.uint32)]).reshape(-1, per)
            shifts = np.array([8 - depth * (i + 1) for i in range(per)], np.uint32)
            raw = (v << shifts).sum(axis=1).astype(np.uint8).tobytes()
        rows.append(b"\x00" + raw)

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0))
    if palette is not None:
        out += chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).reshape(-1)))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    return out + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")


def bmp16_encode(a, layout):
    """16-bit BMP: layout 555 (BI_RGB) or 565 (BI_BITFIELDS). a: (h, w, 3) channel values already at
    5/6 bits."""
    h, w = a.shape[:2]
    if layout == 555:
        px = (a[..., 0].astype(np.uint16) << 10) | (a[..., 1].astype(np.uint16) << 5) | a[..., 2]
        masks, comp = b"", 0
    else:
        px = (a[..., 0].astype(np.uint16) << 11) | (a[..., 1].astype(np.uint16) << 5) | a[..., 2]
        masks, comp = struct.pack("<III", 0xF800, 0x07E0, 0x001F), 3
    stride = (w * 2 + 3) // 4 * 4
    data = b"".join(px[y].astype("<u2").tobytes().ljust(stride, b"\0") for y in range(h - 1, -1, -1))
    off = 14 + 40 + len(masks)
    hdr = b"BM" + struct.pack("<IHHI", off + len(data), 0, 0, off)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 16, comp, len(data), 2835, 2835, 0, 0)
    return hdr + info + masks + data


def pnm_encode(a, maxval, comment=True):
    h, w = a.shape[:2]
    magic = b"P6" if a.ndim == 3 else b"P5"
    head = magic + (b"\n# made by make_image_fixtures.py\n" if comment else b"\n")
    head += b"%d %d\n%d\n" % (w, h, maxval)
    v = a.reshape(-1)
    return head + (v.astype(">u2").tobytes() if maxval > 255 else v.astype(np.uint8).tobytes())


def gif_move_frame(data, screen_w, screen_h, left, top):
    """Enlarges a GIF's logical screen and moves its first frame to (left, top)."""
    b = bytearray(data)
    b[6:10] = struct.pack("<HH", screen_w, screen_h)
    i = 13 + (3 * (2 << (b[10] & 7)) if b[10] & 0x80 else 0)
    while b[i] != 0x2C:  # skip extensions up to the image descriptor
        assert b[i] == 0x21
        i += 2
        while b[i]:
            i += b[i] + 1
        i += 1
    b[i + 1:i + 5] = struct.pack("<HH", left, top)
    return bytes(b)


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------

def synthetic(seed=20240):
    """Three small images: a 37x23 RGB gradient with noise, a 64x48 gray pattern, a 19x50 RGBA."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:23, 0:37]
    a = np.stack([x * 255 / 36, y * 255 / 22, (x + y) * 255 / 58], -1)
    a = np.clip(a + rng.normal(0, 18, a.shape), 0, 255).astype(np.uint8)
    y, x = np.mgrid[0:48, 0:64]
    g = (128 + 100 * np.sin(x / 3.0) * np.cos(y / 5.0) + rng.normal(0, 10, x.shape))
    g = np.clip(g, 0, 255).astype(np.uint8)
    g[10:20, 30:34] = 255  # hard edges exercise the bicubic overshoot and clipping
    g[30:40, 5:9] = 0
    y, x = np.mgrid[0:50, 0:19]
    r = np.stack([x * 13, 255 - y * 5, (x * y) % 256, (x + y * 7) % 256], -1)
    r = np.clip(r + rng.integers(-20, 21, r.shape), 0, 255).astype(np.uint8)
    return {"rgb37x23": Image.fromarray(a, "RGB"), "gray64x48": Image.fromarray(g, "L"),
            "rgba19x50": Image.fromarray(r, "RGBA")}


def save_pil(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def decode_cases(syn):
    """name -> file bytes. Every file is decoded by PIL for the expected pixels."""
    rng = np.random.default_rng(7)
    photo = np.asarray(syn["rgb37x23"])
    small = photo[:13, :17]
    cases = {}
    for name, img in syn.items():
        cases[name + ".png"] = save_pil(img, "PNG")
    # JPEG, written by PIL (libjpeg-turbo)
    im = Image.fromarray(small)
    cases["jpeg_420.jpg"] = save_pil(im, "JPEG", quality=90)
    cases["jpeg_422.jpg"] = save_pil(im, "JPEG", quality=95, subsampling=1)
    cases["jpeg_444_q100.jpg"] = save_pil(im, "JPEG", quality=100, subsampling=0)
    cases["jpeg_420_progressive.jpg"] = save_pil(Image.fromarray(photo), "JPEG", quality=85, progressive=True)
    cases["jpeg_gray.jpg"] = save_pil(syn["gray64x48"].crop((0, 0, 21, 19)), "JPEG", quality=90)
    cases["jpeg_cmyk_adobe.jpg"] = save_pil(im.convert("CMYK"), "JPEG", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6
    cases["jpeg_exif_rot6.jpg"] = save_pil(im, "JPEG", quality=90, exif=exif.tobytes())
    cases["jpeg_1x1.jpg"] = save_pil(Image.fromarray(photo[:1, :1]), "JPEG", quality=90)
    # JPEG, hand-written (sampling factors and colour spaces PIL's writer does not offer)
    Y = (0.299 * small[..., 0] + 0.587 * small[..., 1] + 0.114 * small[..., 2])
    Cb = 128 - 0.168736 * small[..., 0] - 0.331264 * small[..., 1] + 0.5 * small[..., 2]
    Cr = 128 + 0.5 * small[..., 0] - 0.418688 * small[..., 1] - 0.081312 * small[..., 2]
    ycc = [np.clip(np.round(c), 0, 255) for c in (Y, Cb, Cr)]
    rgbp = [small[..., i].astype(np.float64) for i in range(3)]
    cases["jpeg_h1v2_440.jpg"] = jpeg_encode(ycc, [(1, 2), (1, 1), (1, 1)], [1, 2, 3])
    cases["jpeg_h4v1_411.jpg"] = jpeg_encode(ycc, [(4, 1), (1, 1), (1, 1)], [1, 2, 3])
    cases["jpeg_h4v2.jpg"] = jpeg_encode(ycc, [(4, 2), (1, 1), (1, 1)], [1, 2, 3])  # 10 blocks: the limit
    cases["jpeg_h4v1_mixed.jpg"] = jpeg_encode(ycc, [(4, 1), (2, 1), (1, 1)], [1, 2, 3])
    cases["jpeg_mixed.jpg"] = jpeg_encode(ycc, [(2, 2), (1, 1), (2, 1)], [1, 2, 3])
    cases["jpeg_420_w2.jpg"] = jpeg_encode([c[:, :2] for c in ycc], [(2, 2), (1, 1), (1, 1)], [1, 2, 3])
    cases["jpeg_420_w5.jpg"] = jpeg_encode([c[:, :5] for c in ycc], [(2, 2), (1, 1), (1, 1)], [1, 2, 3])
    cases["jpeg_422_w4.jpg"] = jpeg_encode([c[:, :4] for c in ycc], [(2, 1), (1, 1), (1, 1)], [1, 2, 3])
    cases["jpeg_restart.jpg"] = jpeg_encode(ycc, [(2, 2), (1, 1), (1, 1)], [1, 2, 3], restart=2)
    cases["jpeg_ids_rgb.jpg"] = jpeg_encode(rgbp, [(1, 1)] * 3, [82, 71, 66], jfif=False)
    cases["jpeg_ids_rgb_jfif.jpg"] = jpeg_encode(ycc, [(1, 1)] * 3, [82, 71, 66], jfif=True)
    cases["jpeg_adobe_rgb.jpg"] = jpeg_encode(rgbp, [(1, 1)] * 3, [1, 2, 3], jfif=False, adobe=0)
    cases["jpeg_ids_other.jpg"] = jpeg_encode(ycc, [(2, 1), (1, 1), (1, 1)], [0, 1, 2], jfif=False)
    k = rng.integers(0, 120, small.shape[:2]).astype(np.float64)
    cmyk = [255 - rgbp[0], 255 - rgbp[1], 255 - rgbp[2], k]
    cases["jpeg_cmyk_plain.jpg"] = jpeg_encode(cmyk, [(1, 1)] * 4, [1, 2, 3, 4], jfif=False)
    cases["jpeg_ycck.jpg"] = jpeg_encode(ycc + [255 - k], [(2, 2), (1, 1), (1, 1), (2, 2)], [1, 2, 3, 4],
                                         jfif=False, adobe=2)
    cases["jpeg_gray_samp22.jpg"] = jpeg_encode([ycc[0]], [(2, 2)], [1])
    # PNG, by PIL and by hand (16-bit colour types, low bit depths with tRNS)
    cases["png_palette_trns.png"] = save_pil(im.quantize(7), "PNG", transparency=2)
    cases["png_1bit.png"] = save_pil(syn["gray64x48"].crop((0, 0, 13, 9)).convert("1"), "PNG")
    cases["png_la.png"] = save_pil(syn["rgba19x50"].convert("LA").crop((0, 0, 9, 11)), "PNG")
    g16 = rng.integers(0, 65536, (5, 7), dtype=np.uint32)
    g16[0, :4] = [0, 1, 255, 256]
    cases["png_gray16.png"] = png_encode(g16[..., None], 0, 16)
    c16 = rng.integers(0, 65536, (5, 7, 3), dtype=np.uint32)
    cases["png_rgb16.png"] = png_encode(c16, 2, 16)
    cases["png_rgba16.png"] = png_encode(rng.integers(0, 65536, (5, 7, 4), dtype=np.uint32), 6, 16)
    cases["png_la16.png"] = png_encode(rng.integers(0, 65536, (5, 7, 2), dtype=np.uint32), 4, 16)
    cases["png_gray16_trns.png"] = png_encode(g16[..., None], 0, 16, trns=struct.pack(">H", int(g16[1, 1])))
    cases["png_gray4_trns.png"] = png_encode(rng.integers(0, 16, (6, 9, 1), dtype=np.uint32), 0, 4, trns=b"\x00\x05")
    cases["png_gray2.png"] = png_encode(rng.integers(0, 4, (6, 9, 1), dtype=np.uint32), 0, 2)
    pal = rng.integers(0, 256, (4, 3))
    cases["png_pal2_trns.png"] = png_encode(rng.integers(0, 4, (6, 9, 1), dtype=np.uint32), 3, 2, palette=pal,
                                            trns=b"\x00\x80")
    # BMP
    cases["bmp_rgb24.bmp"] = save_pil(im, "BMP")
    cases["bmp_pal8.bmp"] = save_pil(im.quantize(16), "BMP")
    cases["bmp_1bit.bmp"] = save_pil(syn["gray64x48"].crop((0, 0, 13, 9)).convert("1"), "BMP")
    cases["bmp_rgba32.bmp"] = save_pil(syn["rgba19x50"].crop((0, 0, 7, 6)), "BMP")
    c5 = rng.integers(0, 32, (4, 11, 3), dtype=np.uint32)
    c5[0, :, 0] = np.arange(11) * 3
    cases["bmp_555.bmp"] = bmp16_encode(c5, 555)
    c6 = c5.copy()
    c6[..., 1] = rng.integers(0, 64, (4, 11))
    c6[1, :, 1] = np.arange(11) * 6
    cases["bmp_565.bmp"] = bmp16_encode(c6, 565)
    # GIF: first frame, transparency, a frame smaller than the screen
    pim = im.quantize(16)
    cases["gif_plain.gif"] = save_pil(pim, "GIF")
    cases["gif_trns.gif"] = save_pil(pim, "GIF", transparency=3)
    frame2 = Image.fromarray(np.asarray(syn["rgb37x23"])[5:18, 3:20]).quantize(16)
    cases["gif_anim.gif"] = save_pil(pim, "GIF", save_all=True, append_images=[frame2], duration=100)
    cases["gif_offset_trns.gif"] = gif_move_frame(save_pil(pim, "GIF", transparency=5), 23, 19, 4, 3)
    cases["gif_offset.gif"] = gif_move_frame(save_pil(pim, "GIF"), 20, 16, 2, 1)
    # TGA
    cases["tga_rgb.tga"] = save_pil(im, "TGA")
    cases["tga_rgba_rle.tga"] = save_pil(syn["rgba19x50"].crop((0, 0, 9, 7)), "TGA", compression="tga_rle")
    cases["tga_gray.tga"] = save_pil(syn["gray64x48"].crop((0, 0, 9, 7)), "TGA")
    # PNM
    cases["pnm_p6.ppm"] = pnm_encode(small, 255)
    cases["pnm_p5.pgm"] = pnm_encode(np.asarray(syn["gray64x48"])[:7, :9], 255, comment=False)
    cases["pnm_p6_max100.ppm"] = pnm_encode(rng.integers(0, 101, (4, 6, 3)), 100)
    cases["pnm_p6_max1000.ppm"] = pnm_encode(rng.integers(0, 1001, (4, 6, 3)), 1000)
    cases["pnm_p5_max1000.pgm"] = pnm_encode(rng.integers(0, 1001, (4, 6)), 1000)
    cases["pnm_p5_max65535.pgm"] = pnm_encode(rng.integers(0, 65536, (4, 6)), 65535)
    cases["pnm_p5_max7.pgm"] = pnm_encode(rng.integers(0, 8, (4, 6)), 7)
    return cases


def error_cases(cases):
    """Files PIL cannot decode either: graft must return a clear error, never crash."""
    e = {}
    jpg = cases["jpeg_420.jpg"]
    e["err_truncated.jpg"] = jpg[: len(jpg) // 2]
    png = cases["rgb37x23.png"]
    e["err_truncated.png"] = png[: len(png) - 40]
    e["err_bad_crc_header.png"] = png[:16] + b"\xff\xff" + png[18:]  # IHDR width 0xffff.... corrupt
    e["err_gif_truncated.gif"] = cases["gif_plain.gif"][:30]
    tga = cases["tga_rgb.tga"]
    e["err_truncated.tga"] = tga[: len(tga) - 100]
    return e


def pil_error(ex):
    """The exception as text, without object addresses (so reruns write identical files)."""
    return re.sub(r"<[^>]* at 0x[0-9a-f]+>", "<file>", f"{type(ex).__name__}: {ex}")


def summary(a):
    """sha256, per-channel byte sums and an 8x8 subsample at ((2i + 1) * h // 16, (2j + 1) * w // 16),
    as hex."""
    h, w = a.shape[:2]
    ys = [(2 * i + 1) * h // 16 for i in range(8)]
    xs = [(2 * j + 1) * w // 16 for j in range(8)]
    return {"sha256": hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest(),
            "sums": [int(a[..., c].sum(dtype=np.int64)) for c in range(3)],
            "sub8": a[np.ix_(ys, xs)].tobytes().hex()}


def jpeg_frame(data):
    """(SOF marker number, precision) of a JPEG file: a fact about the file, recorded so the test
    knows which frames are arithmetic/lossless/12-bit."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        m = data[i + 1]
        if m == 0xFF:
            i += 1
            continue
        if m == 0x01 or 0xD0 <= m <= 0xD8:
            i += 2
            continue
        if 0xC0 <= m <= 0xCF and m not in (0xC4, 0xC8, 0xCC):
            return [m - 0xC0, data[i + 4]]
        i += 2 + (data[i + 2] << 8 | data[i + 3])
    return None


def shared_summary(shared):
    folder = os.path.join(shared, "images")
    out = {"size": 336, "positions": "sub8: pixels (y, x) at y = (2i + 1) * h // 16, x = (2j + 1) * w // 16, i, j = 0..7, "
                                 "as hex of the (8, 8, 3) uint8 values",
           "images": {}}
    for name in sorted(os.listdir(folder)):
        data = open(os.path.join(folder, name), "rb").read()
        rec = {"bytes": len(data), "file_sha256": hashlib.sha256(data).hexdigest()}
        if data[:2] == b"\xff\xd8":
            rec["jpeg_frame"] = jpeg_frame(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                img = load_rgb(data)
        except Exception as ex:  # PIL cannot open or decode it
            rec["pil_error"] = pil_error(ex)
            out["images"][name] = rec
            continue
        a = np.asarray(img)
        rec["w"], rec["h"] = img.width, img.height
        rec["rgb"] = summary(a)
        rec["crop336"] = summary(crop_mode(img, 336))
        rec["pad336"] = summary(pad_mode(img, 336))
        out["images"][name] = rec
    return out


def check_hf(shared):
    """The reference preprocessing against the tensors transformers saved (llava-tiny-b)."""
    ref = os.path.join(shared, "fixtures/hf/llava-tiny-b/ref")
    img = load_rgb(os.path.join(shared, "images/llava_extreme_ironing.jpg"))
    u8 = crop_mode(img, 56)
    hf_u8 = np.load(os.path.join(ref, "cropped_u8.npy"))
    hf_pv = np.load(os.path.join(ref, "pixel_values.npy"))
    pv = normalize(u8)
    d8 = int(np.abs(u8.astype(int) - hf_u8.astype(int)).max())
    dpv = float(np.abs(pv - hf_pv[0]).max())
    print(f"HF llava-tiny-b: cropped_u8 max diff {d8}, pixel_values max diff {dpv:.3g} "
          f"(bit-identical: {bool((pv == hf_pv[0]).all())})")
    assert d8 == 0 and dpv == 0.0, "the reference preprocessing does not reproduce transformers"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(here, "../../../shared"))
    ap.add_argument("--out", default=os.path.join(here, "../fixtures/image"))
    args = ap.parse_args()
    out = os.path.normpath(args.out)
    os.makedirs(os.path.join(out, "decode"), exist_ok=True)
    os.makedirs(os.path.join(out, "preprocess"), exist_ok=True)
    import PIL
    print("Pillow", PIL.__version__, "numpy", np.__version__)

    if os.path.isdir(os.path.join(args.shared, "fixtures/hf/llava-tiny-b")):
        check_hf(args.shared)

    syn = synthetic()
    cases = decode_cases(syn)
    manifest = {"pillow": PIL.__version__, "decode": {}, "errors": [], "preprocess": {}}
    for name, data in sorted(cases.items()):
        with open(os.path.join(out, "decode", name), "wb") as f:
            f.write(data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(data))
            mode = im.mode
            a = np.asarray(im.convert("RGB"))
        np.save(os.path.join(out, "decode", name + ".rgb.npy"), a)
        manifest["decode"][name] = {"pil_mode": mode, "w": a.shape[1], "h": a.shape[0]}
    for name, data in sorted(error_cases(cases).items()):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                Image.open(io.BytesIO(data)).convert("RGB")
            raise SystemExit(f"{name}: PIL decodes it; not an error case")
        except (OSError, SyntaxError, ValueError) as ex:
            err = pil_error(ex)
        with open(os.path.join(out, "decode", name), "wb") as f:
            f.write(data)
        manifest["errors"].append({"file": name, "pil_error": err})

    # preprocessing of the synthetic images (decoded from their PNGs, as a user would)
    pp = os.path.join(out, "preprocess")
    for name in syn:
        img = load_rgb(cases[name + ".png"])
        res = {}
        for mode, fn, sizes in (("crop", crop_mode, (56, 32)), ("pad", pad_mode, (56, 32)),
                                ("resize", resize_mode, (32,))):
            for size in sizes:
                key = f"{name}.{mode}{size}"
                u8 = fn(img, size)
                np.save(os.path.join(pp, key + ".u8.npy"), u8)
                res[f"{mode}{size}"] = key + ".u8.npy"
        manifest["preprocess"][name] = res
    up = crop_mode(load_rgb(cases["rgb37x23.png"]), 64)  # upscaling: 37x23 -> 102x64 -> 64
    np.save(os.path.join(pp, "rgb37x23.crop64.u8.npy"), up)
    manifest["preprocess"]["rgb37x23"]["crop64"] = "rgb37x23.crop64.u8.npy"
    np.save(os.path.join(pp, "rgb37x23.crop32.f32.npy"), normalize(crop_mode(load_rgb(cases["rgb37x23.png"]), 32)))
    np.save(os.path.join(pp, "rgba19x50.pad32.f32.npy"), normalize(pad_mode(load_rgb(cases["rgba19x50.png"]), 32)))
    manifest["normalised"] = {"rgb37x23.crop32.f32.npy": ["rgb37x23", "crop", 32],
                              "rgba19x50.pad32.f32.npy": ["rgba19x50", "pad", 32]}
    manifest["mean"], manifest["std"] = OPENAI_MEAN, OPENAI_STD
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")

    if os.path.isdir(os.path.join(args.shared, "images")):
        js = shared_summary(args.shared)
        with open(os.path.join(out, "shared_images.json"), "w") as f:  # one line per image
            f.write("{\"size\": 336, \"positions\": %s,\n \"images\": {\n" % json.dumps(js["positions"]))
            f.write(",\n".join(f"  {json.dumps(k)}: {json.dumps(v, sort_keys=True)}"
                                for k, v in js["images"].items()))
            f.write("\n }\n}\n")
        print(f"shared_images.json: {len(js['images'])} images")
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(out) for f in fs)
    print(f"{len(cases)} decode cases, {len(manifest['errors'])} error cases; fixtures {total / 1024:.0f} KB")


if __name__ == "__main__":
    sys.exit(main())
