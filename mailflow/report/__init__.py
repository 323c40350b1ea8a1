"""The monthly report (BRIEF §6): figures, common needs, and their text/JSON/CSV/HTML forms.

Pure: the caller reads the database into ``Item``s and passes the working-time
function; everything here is computation and formatting.
"""

from mailflow.report.figures import build_report
from mailflow.report.html import render_html
from mailflow.report.mask import mask_email, mask_name
from mailflow.report.model import Item, NeedGroup, Report, report_to_dict
from mailflow.report.glossary import NEEDS_FILE, Glossary, check_glossary, load_glossary
from mailflow.report.needs import group_needs
from mailflow.report.render import render_csv, render_json, render_text

__all__ = ["NEEDS_FILE", "Glossary", "Item", "NeedGroup", "Report", "build_report", "check_glossary",
           "group_needs", "load_glossary", "mask_email", "mask_name", "render_csv", "render_html",
           "render_json", "render_text", "report_to_dict"]
