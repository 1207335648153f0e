"""A narrow, fast DICOM reader for the common bulk-zip frame; ``None`` for anything else.

UK Biobank cine frames are small uncompressed files (Explicit VR Little Endian, 16-bit
monochrome, one frame). Parsing one with :func:`pydicom.dcmread` builds a full
:class:`~pydicom.dataset.Dataset` (about 90 elements) and then converts every value that is
looked at; for a 50-frame series that was most of the preparation time. :func:`parse_frame`
walks the element headers only (tag, VR, length), keeps the handful of values the bulk-zip
reader uses (:data:`WANTED`) and a zero-copy view of the pixel bytes, and returns a
:class:`FastHeader` that answers ``get(keyword, default)`` / attribute access / ``file_meta``
the way the pydicom dataset would for those keywords.

It is deliberately strict. It returns ``None`` - and the caller parses the member with pydicom
exactly as before - for anything outside the common case: no ``DICM`` preamble, a transfer
syntax other than Explicit VR Little Endian, a wanted element with an unexpected VR, an empty
or repeated value, a number that is not a plain decimal, a text value with bytes outside
printable ASCII or with a backslash where one value is expected, a ``PixelSpacing`` without
exactly two values, a value or sequence running past the end of the file, undefined lengths
other than a well-formed sequence, bytes left over after the last element. Values it keeps
are converted as pydicom converts them (text: trailing spaces and NULs removed, ``\\`` splits
values; IS: ``int``; DS: ``float``; US: unsigned 16-bit), so the reader's result is
bit-identical whichever path read a frame (``tests/test_prepare_fast.py`` checks it).
"""

from __future__ import annotations

import re
import struct
from typing import Any

#: the only transfer syntax read here (Explicit VR Little Endian)
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
#: element tag -> (keyword, VRs accepted) of the values the bulk-zip reader looks at
WANTED: dict[int, tuple[str, tuple[bytes, ...]]] = {
    0x00080008: ("ImageType", (b"CS",)),
    0x00080020: ("StudyDate", (b"DA",)),
    0x0008103E: ("SeriesDescription", (b"LO",)),
    0x00100020: ("PatientID", (b"LO",)),
    0x00181060: ("TriggerTime", (b"DS",)),
    0x0020000E: ("SeriesInstanceUID", (b"UI",)),
    0x00200011: ("SeriesNumber", (b"IS",)),
    0x00200013: ("InstanceNumber", (b"IS",)),
    0x00280002: ("SamplesPerPixel", (b"US",)),
    0x00280008: ("NumberOfFrames", (b"IS",)),
    0x00280010: ("Rows", (b"US",)),
    0x00280011: ("Columns", (b"US",)),
    0x00280030: ("PixelSpacing", (b"DS",)),
    0x00280100: ("BitsAllocated", (b"US",)),
    0x00280103: ("PixelRepresentation", (b"US",)),
    0x7FE00010: ("PixelData", (b"OW", b"OB")),
}
#: keywords whose value may hold several values (the others must hold exactly one)
_MULTI_OK = {"ImageType", "PixelSpacing"}
#: VRs with a 2-byte reserved field and a 4-byte length in explicit VR
_LONG_VRS = frozenset((b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"))
#: text VRs whose values are stripped per value (pydicom ``convert_text``); others strip the whole string
_PER_VALUE_STRIP = frozenset((b"LO", b"SH", b"UC"))
_UNDEFINED = 0xFFFFFFFF
_TEXT_OK = re.compile(rb"[\x20-\x7e]*\x00*\Z")
_IS_RE = re.compile(r" *[+-]?[0-9]+ *\Z")
_DS_RE = re.compile(r" *[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)? *\Z")
_SHORT_VRS = frozenset((b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT",
                        b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"))
#: element header: the tag read as one little-endian uint32 (element << 16 | group), VR, short length
_HDR = struct.Struct("<I2sH")
_TAG_LEN = struct.Struct("<II")
_U32 = struct.Struct("<I")
_U16 = struct.Struct("<H")


def _swap(tag: int) -> int:
    """(group << 16 | element) -> (element << 16 | group): how :data:`_HDR` reads a tag."""
    return ((tag & 0xFFFF) << 16) | (tag >> 16)


_WANTED_SWAPPED = {_swap(t): v for t, v in WANTED.items()}
_ITEM, _ITEM_END_SWAPPED, _SEQ_END = _swap(0xFFFEE000), _swap(0xFFFEE00D), _swap(0xFFFEE0DD)


class NotFast(Exception):
    """Internal: the member is outside what :func:`parse_frame` reads; use pydicom."""


class FastHeader:
    """What the bulk-zip reader needs of a frame's dataset: ``get``, attributes, ``file_meta``.

    ``get(keyword, default)`` returns the converted value (``default`` when the element is
    absent); ``PixelData`` is a read-only ``memoryview`` of the pixel bytes (no copy).
    """

    __slots__ = ("_values", "file_meta")

    def __init__(self, values: dict[str, Any], transfer_syntax: str):
        self._values = values
        self.file_meta = {"TransferSyntaxUID": transfer_syntax}

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(key) from None

    def __contains__(self, key: str) -> bool:
        return key in self._values


def _text(raw: bytes, vr: bytes) -> list[str]:
    if not _TEXT_OK.match(raw):
        raise NotFast
    s = raw.decode("ascii")
    if vr in _PER_VALUE_STRIP:
        return [v.rstrip("\0 ") for v in s.split("\\")]
    return s.rstrip(" \x00").split("\\")


def _convert(keyword: str, vr: bytes, raw: bytes) -> Any:
    """One wanted value, as pydicom would give it (``NotFast`` where that is not certain)."""
    if not raw:
        raise NotFast  # empty values convert differently per VR in pydicom: leave them to it
    if vr == b"US":
        if len(raw) != 2:
            raise NotFast
        return _U16.unpack(raw)[0]
    if vr in (b"OB", b"OW"):
        return raw
    values = _text(raw, vr)
    if vr == b"IS":
        if not all(_IS_RE.match(v) for v in values):
            raise NotFast
        values = [int(v) for v in values]
    elif vr == b"DS":
        values = [v.strip() for v in values]
        if not all(_DS_RE.match(v) for v in values):
            raise NotFast
        values = [float(v) for v in values]
    if len(values) == 1:
        if keyword == "PixelSpacing":
            raise NotFast
        return values[0]
    if keyword not in _MULTI_OK or (keyword == "PixelSpacing" and len(values) != 2):
        raise NotFast
    return values


def _skip_sequence(buf: memoryview, off: int, end: int) -> int:
    """Offset just past an undefined-length sequence whose items start at ``off``."""
    while True:
        tag, length = _TAG_LEN.unpack_from(buf, off)
        off += 8
        if tag == _SEQ_END:
            return off
        if tag != _ITEM:
            raise NotFast
        if length != _UNDEFINED:
            off += length
            continue
        off = _walk(buf, off, end, None, nested=True)


def _walk(buf: memoryview, off: int, end: int, out: dict[str, Any] | None, nested: bool = False) -> int:
    """Walk explicit-VR-LE elements from ``off``; fill ``out`` with wanted top-level values.

    Returns the offset after the last element (``nested``: after the item delimiter). A header
    running past the end raises ``struct.error`` (caught by :func:`parse_frame`).
    """
    header = _HDR.unpack_from
    u32 = _U32.unpack_from
    wanted = _WANTED_SWAPPED if out is not None else {}
    while off < end:
        tag, vr, short_len = header(buf, off)
        if vr in _LONG_VRS:
            length = u32(buf, off + 8)[0]
            off += 12
            if length == _UNDEFINED:
                if vr != b"SQ":
                    raise NotFast  # encapsulated pixel data, UN sequences, ...
                off = _skip_sequence(buf, off, end)
                continue
        elif vr in _SHORT_VRS:
            length = short_len
            off += 8
        elif tag == _ITEM_END_SWAPPED and nested:
            return off + 8
        else:
            raise NotFast  # not an explicit VR: a broken or implicit-VR dataset
        if off + length > end:
            raise NotFast
        want = wanted.get(tag)
        if want is not None:
            keyword, vrs = want
            if vr not in vrs or keyword in out:
                raise NotFast
            if keyword == "PixelData":
                out[keyword] = buf[off:off + length]
            else:
                out[keyword] = _convert(keyword, vr, bytes(buf[off:off + length]))
        off += length
    if nested or off != end:
        raise NotFast
    return off


def _file_meta(buf: memoryview, end: int) -> tuple[str, int]:
    """(TransferSyntaxUID, offset of the dataset) from the group-0002 elements after ``DICM``."""
    off = 132
    ts = None
    while off + 8 <= end:
        tag, vr, short_len = _HDR.unpack_from(buf, off)
        group, elem = tag & 0xFFFF, tag >> 16
        if group != 0x0002:
            break
        if vr in _LONG_VRS:
            if off + 12 > end:
                raise NotFast
            length = _U32.unpack_from(buf, off + 8)[0]
            off += 12
        else:
            length = short_len
            off += 8
        if length == _UNDEFINED or off + length > end:
            raise NotFast
        if elem == 0x0010:
            if vr != b"UI":
                raise NotFast
            ts = _text(bytes(buf[off:off + length]), vr)
            if len(ts) != 1:
                raise NotFast
            ts = ts[0]
        off += length
    if ts is None:
        raise NotFast
    return ts, off


def _pixels_plain(values: dict[str, Any]) -> bool:
    """One frame of 16-bit single-sample pixels, exactly Rows x Columns of them: the case the
    bulk-zip reader decodes with ``numpy.frombuffer`` (anything else goes to pydicom)."""
    px = values.get("PixelData")
    rows, cols = values.get("Rows"), values.get("Columns")
    return (px is not None and rows is not None and cols is not None
            and values.get("BitsAllocated") == 16 and values.get("SamplesPerPixel", 1) == 1
            and values.get("NumberOfFrames", 1) == 1 and values.get("PixelRepresentation", 0) in (0, 1)
            and len(px) == 2 * rows * cols)


def parse_frame(data: bytes) -> FastHeader | None:
    """The wanted values of one DICOM file ``data`` (bytes), or ``None`` when pydicom must read it.

    Never raises for bad input: anything unusual, including a damaged file, gives ``None``.
    """
    try:
        if len(data) < 140 or data[128:132] != b"DICM":
            return None
        buf = memoryview(data)
        end = len(data)
        ts, off = _file_meta(buf, end)
        if ts != EXPLICIT_VR_LE:
            return None
        values: dict[str, Any] = {}
        _walk(buf, off, end, values)
        if not _pixels_plain(values):
            return None
        return FastHeader(values, ts)
    except (NotFast, struct.error, UnicodeDecodeError, ValueError, IndexError):
        return None
