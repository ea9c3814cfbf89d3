"""Sample CVs used across the tests."""

CV = """Jane Doe
jane.doe@example.com | +44 20 7946 0958 | Leeds, UK

PROFILE
Backend developer with seven years of experience building payment systems.

EXPERIENCE
Acme Payments Ltd - Senior Backend Developer (2019-2024)
• Responsible for the billing service in Python and PostgreSQL, handling 2M invoices a month.
* worked on the migration to Kubernetes in order to cut hosting costs by 30%.
- helped with on-call rotation for 12 services.

Globex - Software Engineer (2016-2019)
• Built REST APIs in Django used by 40 partner banks.

SKILLS
Java, Python, Docker, Kubernetes, PostgreSQL, Redis, c++

EDUCATION
BSc Computer Science, University of Leeds, 2016
"""

JOB_DESCRIPTION = (
    "We are hiring a Senior Python Engineer to build our payments platform with Python, Django, "
    "PostgreSQL, Kubernetes and AWS. Python and AWS experience matter most; node.js is a plus."
)
