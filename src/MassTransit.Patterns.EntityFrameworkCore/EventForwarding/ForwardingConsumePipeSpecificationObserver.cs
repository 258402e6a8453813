using System.Security.Cryptography;
using System.Text;
using MassTransit.Configuration;
using MassTransit.DependencyInjection;
using MassTransit.Middleware;
using Microsoft.EntityFrameworkCore;

namespace MassTransit.Patterns.EntityFrameworkCore.EventForwarding;

/// <summary>
/// Puts MassTransit's outbox consume filter, over <see cref="PatternsEntityFrameworkOutboxContextFactory{TDbContext}"/>,
/// in front of every consumer and saga message type configured on the endpoint after it is connected.
/// </summary>
sealed class ForwardingConsumePipeSpecificationObserver<TDbContext>(IReceiveEndpointConfigurator endpoint, IRegistrationContext context,
    ForwardingEndpointOptions options, ForwardingBatchCollector? batch) : IConsumerConfigurationObserver, ISagaConfigurationObserver
    where TDbContext : DbContext
{
    public void ConsumerConfigured<TConsumer>(IConsumerConfigurator<TConsumer> configurator)
        where TConsumer : class
    {
    }

    public void ConsumerMessageConfigured<TConsumer, TMessage>(IConsumerMessageConfigurator<TConsumer, TMessage> configurator)
        where TConsumer : class
        where TMessage : class
    {
        if (configurator is not IConsumerMessageConfigurator<TMessage> messageConfigurator)
            throw new ConfigurationException($"The inbox/outbox filter cannot be added to {typeof(TConsumer).Name} for {typeof(TMessage).Name}.");
        AddFilter<TConsumer, TMessage>(messageConfigurator);
    }

    public void SagaConfigured<TSaga>(ISagaConfigurator<TSaga> configurator)
        where TSaga : class, ISaga
    {
    }

    public void StateMachineSagaConfigured<TInstance>(ISagaConfigurator<TInstance> configurator, SagaStateMachine<TInstance> stateMachine)
        where TInstance : class, ISaga, SagaStateMachineInstance
    {
    }

    public void SagaMessageConfigured<TSaga, TMessage>(ISagaMessageConfigurator<TSaga, TMessage> configurator)
        where TSaga : class, ISaga
        where TMessage : class
    {
        if (configurator is not ISagaMessageConfigurator<TMessage> messageConfigurator)
            throw new ConfigurationException($"The inbox/outbox filter cannot be added to {typeof(TSaga).Name} for {typeof(TMessage).Name}.");
        AddFilter<TSaga, TMessage>(messageConfigurator);
    }

    void AddFilter<T, TMessage>(IPipeConfigurator<ConsumeContext<TMessage>> configurator)
        where T : class
        where TMessage : class
    {
        var consumeOptions = new ForwardingConsumeOptions
        {
            ConsumerId = ConsumerId(endpoint.InputAddress, typeof(T)),
            ConsumerType = typeof(T).Name,
            MessageDeliveryLimit = 1,
            MessageDeliveryTimeout = TimeSpan.FromSeconds(30),
            Inbox = options.Inbox,
            Batch = batch
        };
        var filter = new OutboxConsumeFilter<TDbContext, TMessage>(new ConsumeScopeProvider(context), consumeOptions);
        configurator.AddPipeSpecification(new FilterPipeSpecification<ConsumeContext<TMessage>>(filter));
    }

    /// <summary>A stable id for a consumer type on an endpoint, so that each consumer of a message applies it once.</summary>
    internal static Guid ConsumerId(Uri inputAddress, Type consumerType)
    {
        var endpointName = inputAddress.AbsolutePath.TrimEnd('/').Split('/')[^1];
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{endpointName}|{consumerType.FullName}"));
        return new Guid(hash.AsSpan(0, 16));
    }
}
