"""A minimal ELF64 shared object whose dynamic section lists given DT_NEEDED sonames.

The test index serves it in place of torchcodec's FFmpeg library: the recording keeps only that
library's DT_NEEDED list (tests/data/index/needed/), not the 1 MB binary, and this rebuilds the
part pyelftools reads: .dynstr, .dynamic and the section headers (no program headers, so
`readelf -d`, which follows PT_DYNAMIC, sees nothing).
"""

from __future__ import annotations

import struct

_SHDR = "<IIQQQQIIQQ"


def elf_with_needed(needed: list[str]) -> bytes:
    dynstr = b"\0"
    offsets = []
    for name in needed:
        offsets.append(len(dynstr))
        dynstr += name.encode() + b"\0"
    dynamic = b"".join(struct.pack("<qQ", 1, off) for off in offsets) + struct.pack("<qQ", 0, 0)  # DT_NEEDED.., DT_NULL
    shstrtab = b"\0.dynstr\0.dynamic\0.shstrtab\0"
    body = bytearray(b"\0" * 64)
    dynstr_off = len(body)
    body += dynstr
    body += b"\0" * (-len(body) % 8)
    dynamic_off = len(body)
    body += dynamic
    shstr_off = len(body)
    body += shstrtab
    body += b"\0" * (-len(body) % 8)
    shoff = len(body)
    sections = [
        struct.pack(_SHDR, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        struct.pack(_SHDR, 1, 3, 2, 0, dynstr_off, len(dynstr), 0, 0, 1, 0),  # .dynstr  SHT_STRTAB
        struct.pack(_SHDR, 9, 6, 3, 0, dynamic_off, len(dynamic), 1, 0, 8, 16),  # .dynamic SHT_DYNAMIC
        struct.pack(_SHDR, 18, 3, 0, 0, shstr_off, len(shstrtab), 0, 0, 1, 0),  # .shstrtab
    ]
    body += b"".join(sections)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + b"\0" * 8  # 64-bit, little endian, SysV
    header = struct.pack("<16sHHIQQQIHHHHHH", ident, 3, 62, 1, 0, 0, shoff, 0, 64, 56, 0, 64, len(sections), 3)
    body[:64] = header
    return bytes(body)
