from django.core.management.base import BaseCommand, CommandError

from billing.selectors import credit_accounts_out_of_balance


class Command(BaseCommand):
    help = "Verify that every account's cached balance and held credits equal its ledger."

    def handle(self, *args, **options):
        problems = credit_accounts_out_of_balance()
        for problem in problems:
            self.stderr.write(str(problem))
        if problems:
            raise CommandError(f"{len(problems)} account(s) out of balance")
        self.stdout.write(self.style.SUCCESS("Every account matches its ledger."))
