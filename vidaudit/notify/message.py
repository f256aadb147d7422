"""One message as every channel takes it: a title and lines, each with an optional link.

Each sender renders it its own way (WeCom and DingTalk markdown, a JSON document, a plain
text e-mail), within its receiver's size limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Line:
    text: str
    link: str | None = None
    #: what the line is about, for JSON receivers: key, branch, subject, …
    about: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    event: str
    title: str
    lines: tuple[Line, ...]
    language: str = "zh"
    #: the label of each line's link ("查看" / "Open")
    link_label: str = "查看"

    def plain(self) -> str:
        """Title, then each line with its link on the next line (e-mail, text robots)."""
        out = [self.title, ""]
        for line in self.lines:
            out.append(line.text)
            if line.link:
                out.append(f"  {line.link}")
        return "\n".join(out) + "\n"

    def markdown(self, limit_bytes: int) -> str:
        """Markdown (the subset WeCom and DingTalk both render), cut at a line boundary
        so the UTF-8 text stays within ``limit_bytes``."""
        head = f"### {_md(self.title)}\n"
        lines = [
            f"- {_md(line.text)}" + (f" [{self.link_label}]({line.link})" if line.link else "")
            for line in self.lines
        ]
        text = head
        for index, line in enumerate(lines):
            more = f"\n- … (+{len(lines) - index})"
            if len((text + line + "\n" + more).encode()) > limit_bytes:
                return text + more.lstrip("\n")
            text += line + "\n"
        return text


#: Neither robot documents an escape character, so markup characters a person typed are
#: replaced by look-alikes instead of escaped: a reason cannot become a link or a quote.
_MARKUP = str.maketrans({"[": "［", "]": "］", "<": "‹", ">": "›", "*": "＊", "`": "ˋ"})


def _md(text: str) -> str:
    """Keep people's text from becoming markup (links, quotes, emphasis, code)."""
    return text.translate(_MARKUP).replace("\n", " ")
