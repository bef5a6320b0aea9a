"""Rules are data: per-factory policy files, validated on load, seed values as defaults."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cqm_shared.policy import PolicyBook, PolicyError, UnknownFactory
from intake.domain.policy import IntakePolicy
from investigation.domain.policy import CloseBasis, InvestigationPolicy
from notification.domain.policy import NotificationPolicy
from tests.conftest import POLICY_DIR


def copy_policies(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, target)
    return target


def test_shipped_policies_load_for_every_service() -> None:
    for section, model in (
        ("intake", IntakePolicy),
        ("investigation", InvestigationPolicy),
        ("notification", NotificationPolicy),
    ):
        book = PolicyBook(POLICY_DIR, section, model)  # type: ignore[type-var]
        assert book.factories == ["F01", "F02"]


def test_factory_file_overrides_only_what_it_names() -> None:
    book = PolicyBook(POLICY_DIR, "investigation", InvestigationPolicy)
    f01, f02 = book.for_factory("F01"), book.for_factory("F02")
    assert f01.close_basis is CloseBasis.PROVINCE and f02.close_basis is CloseBasis.REGION
    assert f01.deadlines == f02.deadlines


def test_factory_override_of_a_deadline(tmp_path: Path) -> None:
    folder = copy_policies(tmp_path)
    (folder / "F03.yaml").write_text(
        "investigation:\n  deadlines:\n    first_response: {hours: 12, anchor: registered, source: house rule}\n"
    )
    book = PolicyBook(folder, "investigation", InvestigationPolicy)
    assert book.for_factory("F03").deadlines["first_response"].hours == 12
    assert book.for_factory("F03").deadlines["handling_proposal"].hours == 48


def test_invalid_policy_stops_loading_with_the_file_named(tmp_path: Path) -> None:
    folder = copy_policies(tmp_path)
    (folder / "F09.yaml").write_text("investigation:\n  deadlines:\n    first_response: {hours: -1}\n")
    with pytest.raises(PolicyError, match=r"F09\.yaml"):
        PolicyBook(folder, "investigation", InvestigationPolicy)


def test_unresolvable_notification_role_is_refused(tmp_path: Path) -> None:
    folder = copy_policies(tmp_path)
    (folder / "F05.yaml").write_text("notification:\n  routes:\n    complaint.registered: [ghost]\n")
    with pytest.raises(PolicyError, match="ghost"):
        PolicyBook(folder, "notification", NotificationPolicy)


def test_missing_default_or_unknown_factory(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"default\.yaml"):
        PolicyBook(tmp_path, "intake", IntakePolicy)
    with pytest.raises(UnknownFactory):
        PolicyBook(POLICY_DIR, "intake", IntakePolicy).for_factory("F77")


def test_permissions_doc_matches_the_enforced_matrices() -> None:
    from tests.conftest import REPO
    from tests.permissions_doc import render

    assert (REPO / "docs" / "permissions.md").read_text(encoding="utf-8") == render(), "run `make permissions`"
