namespace MassTransit.Patterns.Showcase.Dashboard;

/// <summary>An invoice in a currency the books do not take: no repairer knows the right one, a person does.</summary>
public sealed class UnknownCurrencyException(string currency) : Exception($"currency '{currency}' is not one the books take ({string.Join(", ", DashboardInvoiceConsumer.Currencies)})");
