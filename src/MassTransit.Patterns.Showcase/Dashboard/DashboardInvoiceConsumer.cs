using MassTransit.Patterns.Showcase.Messages;
using MassTransit.Patterns.Showcase.Scenarios;

namespace MassTransit.Patterns.Showcase.Dashboard;

/// <summary>Books an invoice, or fails for one of three reasons, so the console has more than one kind of failure to group.</summary>
public sealed class DashboardInvoiceConsumer(WorkflowScenario.Books books) : IConsumer<BookInvoice>
{
    /// <summary>The currencies the books take.</summary>
    public static readonly string[] Currencies = ["EUR", "USD", "GBP"];

    public async Task Consume(ConsumeContext<BookInvoice> context)
    {
        var invoice = context.Message;
        if (invoice.Currency is null)
            throw new WorkflowScenario.InvoiceRejectedException("no currency");
        if (Array.IndexOf(Currencies, invoice.Currency) < 0)
            throw new UnknownCurrencyException(invoice.Currency);
        if (invoice.Amount <= 0)
            throw new WorkflowScenario.InvoiceRejectedException($"amount {invoice.Amount} is not positive");
        await Task.Delay(2, context.CancellationToken);
        books.Booked.AddOrUpdate(context.MessageId!.Value, 1, (_, n) => n + 1);
    }
}
