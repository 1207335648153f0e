"""The report's HTML: one self-contained file from a :class:`cardiolatent.report.collect.Report`.

The Jinja2 template (``templates/report.html.j2``, package data) embeds every image as a data URI
and carries a Content-Security-Policy that lets the page load nothing but those images, its inline
style and its one inline script (allowed by its SHA-256 hash). The script, after load, writes how
many images there are and how many failed to decode (``naturalWidth == 0``) into the ``<body>``'s
``data-images`` and ``data-broken-images`` attributes (read back by the browser test).
"""

from __future__ import annotations

import base64
import hashlib

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from cardiolatent.report.collect import Report

TEMPLATE = "report.html.j2"
#: the page's one script: counts images and those that did not decode, after load
SCRIPT = ('window.addEventListener("load",function(){var im=document.images,bad=0;'
          'for(var i=0;i<im.length;i++){if(!im[i].complete||im[i].naturalWidth===0){bad++;}}'
          'document.body.setAttribute("data-images",String(im.length));'
          'document.body.setAttribute("data-broken-images",String(bad));});')


def script_hash(script: str = SCRIPT) -> str:
    """The CSP source that allows exactly ``script`` inline: ``'sha256-<base64>'``."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"


def csp(script: str = SCRIPT) -> str:
    """The page's Content-Security-Policy: data: images, inline style, the one script; nothing else."""
    return (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src {script_hash(script)}; "
            "base-uri 'none'; form-action 'none'")


def environment() -> Environment:
    return Environment(loader=PackageLoader("cardiolatent.report", "templates"),
                       autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined,
                       trim_blocks=False, lstrip_blocks=False)


def render(report: Report) -> str:
    """The report as one HTML page (text)."""
    tpl = environment().get_template(TEMPLATE)
    return tpl.render(report=report, sections=list(report.sections.values()), csp=csp(), script=SCRIPT)


__all__ = ["SCRIPT", "TEMPLATE", "csp", "environment", "render", "script_hash"]
