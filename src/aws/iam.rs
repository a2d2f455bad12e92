//! The IAM policies headroom's calls need, made from the config: the read-only policy (what
//! a cycle reads) and the apply policy (what `act/` calls, on opted-in resources only, the
//! opt-in tag being `[apply] opt_in_tag`). `headroom iam policy [--apply]` prints them;
//! config/iam/*.json are these for the shipped config, and a test keeps them equal.
//!
//! Why the apply policy grants launching: a resize sends the group's MixedInstancesPolicy
//! back whole (moto, the test peer, drops an omitted policy, and a whole-group write is right
//! on AWS too), and AWS authorizes an update that carries a policy as a launch from its launch
//! template: `ec2:RunInstances` from a launch template, `ec2:CreateTags` on what it launches,
//! and `iam:PassRole` of an instance profile to EC2. Those are granted only for launches from
//! a launch template (`ec2:IsLaunchTemplateResource`) and roles passed to EC2.
//!
//! May use: config, serde_json. Pure.

use crate::config::Config;
use serde_json::{Value, json};

/// The read-only policy: every call a cycle makes.
pub fn readonly_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "HeadroomReadMetrics",
                "Effect": "Allow",
                "Action": ["cloudwatch:GetMetricData", "cloudwatch:ListMetrics"],
                "Resource": "*"
            },
            {
                "Sid": "HeadroomReadInventory",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribePolicies",
                    "dynamodb:ListTables",
                    "dynamodb:DescribeTable"
                ],
                "Resource": "*"
            },
            {
                "Sid": "HeadroomReadSpend",
                "Effect": "Allow",
                "Action": ["ce:GetCostAndUsage"],
                "Resource": "*"
            }
        ]
    })
}

/// The apply policy: the changing calls on resources tagged `opt_in_tag` = `true` (compared
/// exactly, as the opt-in guardrail does), Application Auto Scaling on DynamoDB table
/// capacity only, the alarms target tracking creates, the launches a resize implies, and
/// the reads made just before and after a change.
pub fn apply_policy(cfg: &Config) -> Value {
    let tag = format!("aws:ResourceTag/{}", cfg.headroom.apply.opt_in_tag);
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "HeadroomChangeOptedInGroups",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:UpdateAutoScalingGroup",
                    "autoscaling:PutScalingPolicy",
                    "autoscaling:StartInstanceRefresh"
                ],
                "Resource": "*",
                "Condition": { "StringEquals": { tag.clone(): "true" } }
            },
            {
                "Sid": "HeadroomLaunchFromTheGroupsTemplate",
                "Effect": "Allow",
                "Action": ["ec2:RunInstances", "ec2:CreateTags"],
                "Resource": "*",
                "Condition": { "Bool": { "ec2:IsLaunchTemplateResource": "true" } }
            },
            {
                "Sid": "HeadroomPassTheTemplatesInstanceRole",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": "*",
                "Condition": { "StringEquals": { "iam:PassedToService": "ec2.amazonaws.com" } }
            },
            {
                "Sid": "HeadroomTargetTrackingAlarms",
                "Effect": "Allow",
                "Action": ["cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms", "cloudwatch:DeleteAlarms"],
                "Resource": "arn:aws:cloudwatch:*:*:alarm:TargetTracking-*"
            },
            {
                "Sid": "HeadroomChangeOptedInTables",
                "Effect": "Allow",
                "Action": ["dynamodb:UpdateTable"],
                "Resource": "arn:aws:dynamodb:*:*:table/*",
                "Condition": { "StringEquals": { tag: "true" } }
            },
            {
                "Sid": "HeadroomTableAutoScaling",
                "Effect": "Allow",
                "Action": [
                    "application-autoscaling:RegisterScalableTarget",
                    "application-autoscaling:DeregisterScalableTarget",
                    "application-autoscaling:PutScalingPolicy"
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": { "application-autoscaling:service-namespace": "dynamodb" },
                    "ForAllValues:StringEquals": {
                        "application-autoscaling:scalable-dimension": [
                            "dynamodb:table:ReadCapacityUnits",
                            "dynamodb:table:WriteCapacityUnits"
                        ]
                    }
                }
            },
            {
                "Sid": "HeadroomTableAutoScalingRole",
                "Effect": "Allow",
                "Action": ["iam:CreateServiceLinkedRole"],
                "Resource": "arn:aws:iam::*:role/aws-service-role/dynamodb.application-autoscaling.amazonaws.com/*",
                "Condition": {
                    "StringEquals": { "iam:AWSServiceName": "dynamodb.application-autoscaling.amazonaws.com" }
                }
            },
            {
                "Sid": "HeadroomReadBeforeChanging",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeInstanceRefreshes",
                    "dynamodb:ListTagsOfResource",
                    "application-autoscaling:DescribeScalableTargets"
                ],
                "Resource": "*"
            }
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// config/iam/*.json are what `headroom iam policy` makes of the shipped config
    /// (regenerate them with `headroom iam policy [--apply] > config/iam/…` when this fails).
    #[test]
    fn the_shipped_policy_files_are_the_generated_ones() {
        let cfg = Config::embedded().unwrap();
        let file = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert_eq!(file(include_str!("../../config/iam/headroom-apply.json")), apply_policy(&cfg));
        assert_eq!(file(include_str!("../../config/iam/headroom-readonly.json")), readonly_policy());
    }

    #[test]
    fn the_tag_key_follows_the_config() {
        let mut cfg = Config::embedded().unwrap();
        cfg.headroom.apply.opt_in_tag = "team:may-resize".into();
        let p = apply_policy(&cfg).to_string();
        assert!(p.contains("aws:ResourceTag/team:may-resize"), "{p}");
        assert!(!p.contains("headroom:apply"), "{p}");
    }
}
