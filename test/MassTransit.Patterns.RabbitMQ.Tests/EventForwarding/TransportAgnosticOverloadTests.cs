// The core overload is called on a RabbitMQ bus on purpose (by its class, as the compiler binds it in an
// application that references MassTransit.RabbitMQ but not MassTransit.Patterns.RabbitMQ).
using MassTransit.Patterns.EventForwarding;
using MassTransit.Patterns.Testing;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.RabbitMQ.Tests.EventForwarding
{
    /// <summary>
    /// Which <c>UseEventForwarding</c> the compiler picks depends on the usings; the guarantee must not.
    /// On a RabbitMQ bus the transport-agnostic overload cannot check publisher confirms, queues or
    /// sends, so the start is refused (or, with <see cref="EventForwardingViolationAction.Warn"/>,
    /// logged) naming the RabbitMQ overload.
    /// </summary>
    public sealed class TransportAgnosticOverloadTests
    {
        static ServiceProvider Build(EventForwardingViolationAction action, Action<EventForwardingStartupCheck> checkCreated, bool rabbitOverload = false,
            bool publisherConfirmation = false) =>
            new ServiceCollection()
                .AddMassTransitTestHarness(x =>
                {
                    x.AddEventForwarding(o => o.OnViolation = action);
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        cfg.Host(Broker.BusHost(), h =>
                        {
                            h.Username(ServiceEnvironment.RabbitUser);
                            h.Password(ServiceEnvironment.RabbitPassword);
                            h.PublisherConfirmation = publisherConfirmation;
                        });
                        // The core overload (IRabbitMqBusFactoryConfigurator is an IBusFactoryConfigurator), unless the
                        // control calls the RabbitMQ one by its class, as its using would make the compiler do.
                        if (rabbitOverload)
                            cfg.UseEventForwarding(context);
                        else
                            EventForwardingConfigurationExtensions.UseEventForwarding((IBusFactoryConfigurator)cfg, context);
                        checkCreated(context.GetRequiredService<EventForwardingStartupCheck>());
                    });
                })
                .BuildServiceProvider(true);

        [Fact]
        public async Task The_transport_agnostic_overload_on_a_RabbitMQ_bus_fails_the_start_naming_the_RabbitMQ_overload()
        {
            EventForwardingStartupCheck? check = null;
            await using var provider = Build(EventForwardingViolationAction.Fail, c => check = c);
            var harness = provider.GetRequiredService<ITestHarness>();
            try
            {
                var failure = await Assert.ThrowsAsync<EventForwardingViolationException>(() => harness.Start());

                var violation = Assert.Single(failure.Violations);
                Assert.Equal(EventForwardingViolationSeverity.Error, violation.Severity);
                Assert.Contains("RabbitMQ", violation.Setting);
                Assert.Contains("MassTransit.Patterns.RabbitMQ", violation.Problem);
                Assert.Null(check!.Transport);
            }
            finally
            {
                await harness.Stop();
            }
        }

        [Fact]
        public async Task With_warn_the_bus_starts_but_the_unchecked_transport_is_reported_not_silent()
        {
            EventForwardingStartupCheck? check = null;
            await using var provider = Build(EventForwardingViolationAction.Warn, c => check = c);
            var harness = provider.GetRequiredService<ITestHarness>();
            try
            {
                await harness.Start();

                var violation = Assert.Single(check!.Violations);
                Assert.Equal(EventForwardingViolationSeverity.Error, violation.Severity);
                Assert.Contains("RabbitMQ", violation.Setting);
            }
            finally
            {
                await harness.Stop();
            }
        }

        [Fact]
        public async Task Control_the_RabbitMQ_overload_checks_the_transport_and_a_sound_bus_starts_without_violations()
        {
            EventForwardingStartupCheck? check = null;
            await using var provider = Build(EventForwardingViolationAction.Fail, c => check = c, rabbitOverload: true, publisherConfirmation: true);
            var harness = provider.GetRequiredService<ITestHarness>();
            try
            {
                await harness.Start();

                Assert.Equal("RabbitMQ", check!.Transport);
                Assert.Empty(check.Violations);
            }
            finally
            {
                await harness.Stop();
            }
        }
    }
}
