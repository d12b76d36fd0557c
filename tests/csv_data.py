"""The CSV data of the tests, in one place: the small upload files of the dataset tests, the "memory" study of the
query tests (longitudinal: demographics and two measures) and the "gov" study of the governance tests."""

from __future__ import annotations

#: Dataset upload tests: a longitudinal demographics table (with site lists in three spellings) and a measure
#: table with quoting, a formula-like cell, a missing value and an unknown participant.
UPLOAD_DEMOGRAPHICS = (
    "participant_id,session,age,sex,site\n"
    "001,BAS1,25.5,F,Discovery;Longitudinal_Adult\n"
    "001,FU1,26.0,F,Discovery;Longitudinal_Adult\n"
    '002,BAS1,31,M,"{Discovery, Neurofeedback}"\n'
    "003,BAS1,40.25,F,Neurofeedback\n"
    "003,FU1,41,F,Neurofeedback\n"
)
UPLOAD_COGNITIVE = (
    "participant_id,session,working_memory,note\n"
    '001,BAS1,101.5,"said ""hi"", then left"\n'
    "001,FU1,99,=SUM(A1)\n"
    "002,BAS1,,\n"
    "999,BAS1,88,unknown participant\n"
)

#: The "memory" study of the query tests.
MEMORY_DEMOGRAPHICS = (
    "participant_id,session,age,sex,site\n"
    "001,BAS1,25.5,F,Discovery;Longitudinal_Adult\n"
    "001,FU1,26.0,F,Discovery;Longitudinal_Adult\n"
    '002,BAS1,31,M,"{Discovery, Neurofeedback}"\n'
    "003,BAS1,40.25,F,Neurofeedback\n"
    "003,FU1,41,F,Neurofeedback\n"
    "004,BAS1,67.5,M,Longitudinal_Adult Discovery\n"
)
MEMORY_COGNITIVE = (
    "participant_id,session,working_memory,note\n"
    '001,BAS1,101.5,=HYPERLINK("x")\n'
    "001,FU1,99,\n"
    "002,BAS1,120,ok\n"
    "003,FU1,90,+1 more\n"
)
MEMORY_FLANKER = "participant_id,session,accuracy\n001,BAS1,0.55\n002,BAS1,0.905\n004,BAS1,0.7\n"

#: The "gov" study of the governance tests: large enough for suppression, with an identifying ``name`` column.
GOV_PARTICIPANTS = 60


def gov_demographics_csv() -> str:
    lines = ["participant_id,session,age,sex,name"]
    for i in range(1, GOV_PARTICIPANTS + 1):
        lines.append(f"P{i:03d},BAS1,{20 + i % 40},{'F' if i % 2 else 'M'},Person {i}")
    return "\n".join(lines) + "\n"


def gov_cognitive_csv() -> str:
    lines = ["participant_id,session,score"]
    for i in range(1, GOV_PARTICIPANTS + 1):
        lines.append(f"P{i:03d},BAS1,{i}")
    return "\n".join(lines) + "\n"
