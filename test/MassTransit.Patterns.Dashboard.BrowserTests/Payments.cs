using System.Collections.Concurrent;
using MassTransit.Patterns.Dashboard.BrowserTests.Messages;
using MassTransit.Patterns.Testing;

namespace MassTransit.Patterns.Dashboard.BrowserTests.Messages
{
    /// <summary>An invoice to pay from an account.</summary>
    public record PayInvoice(int Number, int Amount, string Account);
}

namespace MassTransit.Patterns.Dashboard.BrowserTests
{
    /// <summary>A wrong amount: no retry helps, a person fixes the body.</summary>
    public sealed class InvalidAmountException(string message) : Exception(message);

    /// <summary>The ledger is down: the same message succeeds once it is up again.</summary>
    public sealed class LedgerUnavailableException(string message) : Exception(message);

    /// <summary>What the consumer did: payments by original message id (each must be paid once), with the amount paid.</summary>
    public sealed class Ledger
    {
        /// <summary>Accounts starting with this prefix are booked on the ledger, which fails while it is down.</summary>
        public const string LedgerAccountPrefix = "ledger-";

        volatile bool _up = true;

        public ConsumedMessages Paid { get; } = new();

        public ConcurrentDictionary<Guid, int> Amounts { get; } = new();

        public bool Up
        {
            get => _up;
            set => _up = value;
        }
    }

    /// <summary>Pays an invoice; throws for a non-positive amount and, while the ledger is down, for a ledger account.</summary>
    public sealed class PayInvoiceConsumer(Ledger ledger) : IConsumer<PayInvoice>
    {
        public Task Consume(ConsumeContext<PayInvoice> context)
        {
            var invoice = context.Message;
            if (invoice.Amount <= 0)
                throw new InvalidAmountException($"amount {invoice.Amount} of account {invoice.Account} is not positive");
            if (invoice.Account.StartsWith(Ledger.LedgerAccountPrefix, StringComparison.Ordinal) && !ledger.Up)
                throw new LedgerUnavailableException($"the ledger is down: account {invoice.Account} cannot be booked");
            var id = context.GetWorkflowOriginalMessageId()!.Value;
            ledger.Paid.Record(id);
            ledger.Amounts[id] = invoice.Amount;
            return Task.CompletedTask;
        }
    }
}
