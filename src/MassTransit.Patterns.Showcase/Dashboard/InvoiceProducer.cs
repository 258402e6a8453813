using System.Net.Mime;
using MassTransit.Patterns.Showcase.Messages;
using MassTransit.Patterns.Testing;
using MassTransit.Patterns.Workflow;
using MassTransit.Serialization;
using Microsoft.Extensions.Hosting;

namespace MassTransit.Patterns.Showcase.Dashboard;

/// <summary>
/// Sends invoices without end: a first burst of 100, then two a second. Of every 20: 15 good, 2 without a currency
/// (repaired automatically), 1 with a negative amount and 1 in an unknown currency (both wait for a person), and, every
/// 100th, a body that is not JSON (captured raw).
/// </summary>
public sealed class InvoiceProducer(IBus bus, IHostApplicationLifetime lifetime) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken executeToken)
    {
        // Stop when the app starts stopping, before the bus does: a send on a stopped bus fails the service.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(executeToken, lifetime.ApplicationStopping);
        var stoppingToken = stopping.Token;
        try
        {
            var endpoint = await bus.GetSendEndpoint(new Uri($"exchange:{DashboardShowcase.Queue}"));
            for (var n = 0; !stoppingToken.IsCancellationRequested; n++)
            {
                if (n % 100 == 99)
                {
                    await endpoint.Send(new WorkflowRawBody(), c =>
                        c.Serializer = new CopyBodySerializer(new ContentType("application/vnd.masstransit+json"), new StringMessageBody("{\"message\": {\"amount\": 12,")),
                        stoppingToken);
                }
                else
                {
                    await endpoint.Send(Invoice(n), stoppingToken);
                }

                if (n >= 100)
                    await Task.Delay(500, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    static BookInvoice Invoice(int n)
    {
        var currency = DashboardInvoiceConsumer.Currencies[n % DashboardInvoiceConsumer.Currencies.Length];
        return (n % 20) switch
        {
            4 or 14 => new BookInvoice(n, 100 + n, null),
            9 => new BookInvoice(n, -n, currency),
            19 => new BookInvoice(n, 100 + n, "XBT"),
            _ => new BookInvoice(n, 100 + n, currency)
        };
    }
}
