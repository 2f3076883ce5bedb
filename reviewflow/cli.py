"""The flask commands of PRODUCT.md: create-user, create-token, verify-credentials, seed-demo, audit
verify/checkpoint/export, reviews due, remind-reviewers, send-digests, send-mail and send-webhooks."""
from __future__ import annotations

import resource
import sys

import click
from flask import Flask
from sqlalchemy import select

from reviewflow import backup
from reviewflow.api.idempotency import purge_command as purge_idempotency_keys
from reviewflow.audit import services as audit
from reviewflow.audit.queries import LogFilter, write_export
from reviewflow.auth import services as accounts
from reviewflow.auth.models import Role, User, UserRole
from reviewflow.demo import seed
from reviewflow.errors import DomainError
from reviewflow.extensions import db
from reviewflow.notifications.digests import send_digests
from reviewflow.notifications.outbox import send_outbox
from reviewflow.public.finishing import finish_pages
from reviewflow.publishing.services import queue_rereview_reminders, rereviews_due
from reviewflow.reviews.reminders import remind_reviewers
from reviewflow.textrules import counted
from reviewflow.webhooks.sender import send_webhooks_command


def register(app: Flask) -> None:
    app.cli.add_command(create_user)
    app.cli.add_command(create_token)
    app.cli.add_command(verify_credentials)
    app.cli.add_command(seed_demo)
    app.cli.add_command(audit_group)
    app.cli.add_command(reviews_group)
    app.cli.add_command(send_digests_command)
    app.cli.add_command(send_mail)
    app.cli.add_command(remind_reviewers_command)
    app.cli.add_command(purge_idempotency_keys)
    app.cli.add_command(send_webhooks_command)
    app.cli.add_command(finish_pages_command)
    backup.register(app)


def _fail(exc: DomainError) -> None:
    db.session.rollback()
    click.echo(f"Error: {exc.message}", err=True)
    sys.exit(1)


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--password", required=True)
@click.option("--role", "roles", multiple=True, required=True, type=click.Choice([r.value for r in Role]))
@click.option("--credentials")
@click.option("--specialty")
@click.option("--license-number")
@click.option("--license-expires")
@click.option("--license-jurisdiction", default="")
@click.option("--affiliation", default="")
@click.option("--organization", default="")
@click.option("--bio", default="")
def create_user(email, name, password, roles, bio, **profile):
    """Create an account; reviewers also get a credential profile."""
    data = None
    if "reviewer" in roles:
        data = {**profile, "bio": bio}
    try:
        user = accounts.create_user(None, email, name, password, list(roles), bio=bio, profile=data)
        db.session.commit()
    except DomainError as exc:
        _fail(exc)
    click.echo(f"Created {user.email} ({', '.join(user.roles)}) with id {user.id}.")


@click.command("create-token")
@click.option("--email", required=True)
@click.option("--name", default="command line")
def create_token(email, name):
    """Print a new API token for a person as the last line (it is shown only once)."""
    user = accounts.find_user(email)
    if user is None:
        click.echo(f"Error: no account for {email}.", err=True)
        sys.exit(1)
    _, plain = accounts.create_token(None, user, name)
    db.session.commit()
    click.echo(f"New API token for {user.email} (store it now; it is not shown again):")
    click.echo(plain)


@click.command("verify-credentials")
@click.option("--email", required=True, help="The reviewer whose current credentials were checked.")
@click.option("--by", "by_email", required=True, help="The admin who checked them.")
@click.option("--method", required=True, help="How, e.g. \"licence looked up in the board's public register\".")
def verify_credentials(email, by_email, method):
    """Record that an admin verified a reviewer's current credentials, and how."""
    reviewer, admin = accounts.find_user(email), accounts.find_user(by_email)
    for address, person in ((email, reviewer), (by_email, admin)):
        if person is None:
            click.echo(f"Error: no account for {address}.", err=True)
            sys.exit(1)
    try:
        profile = accounts.verify_profile(admin, reviewer, method)
        db.session.commit()
    except DomainError as exc:
        _fail(exc)
    click.echo(f"Verified {reviewer.email}'s credentials ({profile.credentials}, licence {profile.license_number}) "
               f"as profile version {profile.version}, by {admin.email}.")


@click.command("seed-demo")
def seed_demo():
    """Load original demo people and articles in every state; running it again adds nothing."""
    created = seed()
    click.echo(f"Demo data ready ({created} new records)." if created else "Demo data already present.")


@click.group("audit")
def audit_group():
    """Verify, checkpoint and export the audit chain."""


def _broken(result: audit.VerifyResult) -> None:
    """Say what is broken, on stderr and stdout, and exit 2."""
    where = f" at event {result.first_bad_seq}" if result.first_bad_seq is not None else ""
    click.echo(f"Audit chain BROKEN{where}: {result.reason}", err=True)
    click.echo(f"Audit chain BROKEN{where}: {result.reason}")
    sys.exit(2)


@audit_group.command("verify")
@click.option("--checkpoint", "checkpoint_file", type=click.File("r"),
              help="A file of lines written by `audit checkpoint`; the chain must still hold each one.")
def audit_verify(checkpoint_file):
    """Recompute the whole chain, its head and the tables it signs; exit 0 when they hold, else name the
    first bad event."""
    checkpoints = [line for line in checkpoint_file.read().splitlines() if line.strip()] if checkpoint_file else []
    if checkpoint_file and not checkpoints:
        click.echo(f"Error: {checkpoint_file.name} holds no checkpoint.", err=True)
        sys.exit(1)
    result = audit.verify(checkpoints=checkpoints)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if not result.ok:
        _broken(result)
    click.echo(f"Audit chain verified: {result.count} events in {result.seconds:.2f} s "
               f"({result.rate:,.0f} events/s, peak memory {peak:.0f} MiB)"
               + (f", {len(checkpoints)} checkpoints held." if checkpoints else "."))
    click.echo(str(result.count))


@audit_group.command("checkpoint")
def audit_checkpoint():
    """Verify the chain, then print a keyed checkpoint of it as one line, to keep outside the database
    (append it to a file); `audit verify --checkpoint FILE` then catches the database set back below it."""
    result = audit.verify()
    if not result.ok:
        _broken(result)
    click.echo(audit.checkpoint(result))


@audit_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl")
@click.option("--output", type=click.File("w"), default="-")
@click.option("--article", "article_id", type=int)
def audit_export(fmt, output, article_id):
    """Write every event (or one article's) as JSON Lines or CSV, in chain order."""
    write_export(output, fmt, LogFilter(article_id=article_id))


@click.group("reviews")
def reviews_group():
    """Periodic re-review."""


@reviews_group.command("due")
@click.option("--days", default=30, help="Also list re-reviews due within this many days.")
def reviews_due(days):
    """Print published articles whose re-review is due or overdue, and queue reminders to editors."""
    due = rereviews_due(days, limit=10_000)
    for article in due:
        click.echo(f"{article.rereview_due.isoformat()}  {article.slug}  (every {article.rereview_months} months)")
    editors = list(db.session.scalars(select(User).join(UserRole).where(UserRole.role == "editor",
                                                                        User.active.is_(True))))
    queued = queue_rereview_reminders(editors, due)
    db.session.commit()
    click.echo(f"{len(due)} re-reviews due; {queued} reminders queued.")


@click.command("send-digests")
def send_digests_command():
    """Queue the e-mail digests that are due (at most one per person an hour, or a day, as they chose)."""
    click.echo(f"{counted(send_digests(), 'digest')} queued.")


@click.command("remind-reviewers")
def remind_reviewers_command():
    """Queue reminders of review due dates (before the date, then while overdue); run it daily. A reminder
    goes out once, however often and however many at once this runs."""
    done = remind_reviewers()
    click.echo(f"{counted(done.total, 'review reminder')} queued: {done.due_soon} due soon, "
               f"{done.overdue} overdue ({counted(done.editors, 'editor')} told).")


@click.command("send-mail")
@click.option("--limit", default=100)
@click.option("--digests/--no-digests", default=True, show_default=True,
              help="Queue the digests that are due first (as send-digests does).")
def send_mail(limit, digests):
    """Queue the digests that are due, then send queued e-mails over SMTP (or log them when no mail
    server is configured)."""
    if digests:
        click.echo(f"{counted(send_digests(), 'digest')} queued.")
    sent, failed = send_outbox(limit)
    click.echo(f"{sent} sent, {failed} failed.")
    if failed:
        sys.exit(1)



@click.command("finish-pages")
def finish_pages_command():
    """Finish every live article's page and the lists for this release (after a deploy, before traffic)."""
    from flask import current_app

    good, bad = finish_pages(current_app._get_current_object(), log=click.echo)
    click.echo(f"Finished {counted(good, 'public page')}" + (f"; {bad} answered otherwise." if bad else "."))
    if bad:
        sys.exit(1)
