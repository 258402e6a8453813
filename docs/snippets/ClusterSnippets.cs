using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Docs.Snippets;

public static class ClusterSnippets
{
    public static void Connect(IServiceCollection services)
    {
        // begin-snippet: cluster-connect
        services.AddMassTransit(x =>
        {
            x.AddEventForwarding();
            x.UsingRabbitMq((ctx, cfg) =>
            {
                cfg.Host("rabbit-1", "/", h =>
                {
                    h.Username("app");
                    h.Password("secret");
                    h.UseCluster(c =>               // every node: MassTransit moves to the next when one is lost
                    {
                        c.Node("rabbit-1:5672");
                        c.Node("rabbit-2:5672");
                        c.Node("rabbit-3:5672");
                    });
                });
                cfg.UseEventForwarding(ctx, o => o.QuorumQueues = true);   // replicated on the nodes; below 3 replicas it warns
                cfg.ConfigureEndpoints(ctx);
            });
        });
        services.AddRabbitMqQueueDepthProbe(o =>
        {
            o.HostName = "rabbit-1";
            o.ClusterNodes = ["rabbit-2:5672", "rabbit-3:5672"];             // reads any queue of the cluster through any node
        });
        // end-snippet
    }
}
