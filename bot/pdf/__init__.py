"""An intake as a PDF: the page and its writing (``page.py``), shared by the chart's PDF for staff
(``bot.staff.pdf``) and the patient's copy of their answers (``patient_copy.py``)."""
