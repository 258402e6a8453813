namespace MassTransit.Patterns.Ambulance;

/// <summary>
/// Just before a message leaves, after every pipe and callback: writes the urgent mark in the exact
/// form the broker routes on, and lets the transport add its own mark (the in-memory routing key).
/// </summary>
sealed class UrgentSendObserver(IAmbulanceLaneTransport? transport) : ISendObserver, IPublishObserver
{
    void Prepare(SendContext context)
    {
        var mark = UrgentMark.Read(context.Headers);
        if (mark is null)
            return;
        if (mark == true && !UrgentMark.HasRoutingMark(context.Headers))
            context.Headers.Set(AmbulanceHeaders.Urgent, AmbulanceHeaders.True);
        if (mark == true)
            transport?.PrepareSend(context);
    }

    public Task PreSend<T>(SendContext<T> context)
        where T : class
    {
        Prepare(context);
        return Task.CompletedTask;
    }

    public Task PostSend<T>(SendContext<T> context)
        where T : class => Task.CompletedTask;

    public Task SendFault<T>(SendContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;

    public Task PrePublish<T>(PublishContext<T> context)
        where T : class
    {
        Prepare(context);
        return Task.CompletedTask;
    }

    public Task PostPublish<T>(PublishContext<T> context)
        where T : class => Task.CompletedTask;

    public Task PublishFault<T>(PublishContext<T> context, Exception exception)
        where T : class => Task.CompletedTask;
}
